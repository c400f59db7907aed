"""The vault: resolving a secret handle, and rotating the master key over 10,000 secrets.

Runs on SQLite (a temporary FLOWAT_HOME) and, when a server answers, on PostgreSQL (a
fresh database, dropped at the end). Each measurement has a baseline taken in the same
run: a plain SQLAlchemy read of the same row by primary key for handle resolution, and
a rewrite of the same rows' ``wrapped_key`` column without any crypto, in the same batch
size, for rotation. Diagnostics split the costs: crypto alone, the handle inside and
outside a step, the once-a-minute usage write of a reveal outside a step, a replay of the
rotation's own statements (one guarded executemany per table and batch) without crypto,
and (SQLite) the first reveal of many distinct secrets in one process, with and without
a masked write after each.
Run: ``python benchmarks/bench_vault.py`` (results in benchmarks/results/vault.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cryptography
import sqlalchemy
from common import machine, pg_create, pg_drop, psycopg_version
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

RESULTS = Path(__file__).resolve().parent / "results" / "vault.json"
OWNER = "bench"
HANDLE_TARGET_MS = 1.0
ROTATION_TARGET_S = 10.0


# -- helpers -------------------------------------------------------------------------


def summary_ms(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def rank(q: float) -> float:  # nearest-rank percentile
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1e6

    return {
        "median_ms": statistics.median(ordered) / 1e6,
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "min_ms": ordered[0] / 1e6,
        "mean_ms": statistics.fmean(ordered) / 1e6,
        "calls": len(ordered),
    }


def interleaved(actions: dict[str, Callable[[], Any]], calls: int, warmup: int) -> dict:
    """Time each action ``calls`` times, round-robin, so drifting load hits all alike."""
    for _ in range(warmup):
        for action in actions.values():
            action()
    samples: dict[str, list[int]] = {key: [] for key in actions}
    clock = time.perf_counter_ns
    for _ in range(calls):
        for key, action in actions.items():
            start = clock()
            action()
            samples[key].append(clock() - start)
    return {key: summary_ms(values) for key, values in samples.items()}


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def secret_value(index: int) -> str:
    return f"sk-bench-{index:06d}-" + os.urandom(16).hex()  # ~50 characters, like an API key


# -- population ----------------------------------------------------------------------


def populate(vault: Any, count: int, set_calls: int) -> tuple[dict, dict[str, str]]:
    """``set_calls`` secrets through ``vault.set`` (timed per call), the rest in bulk.

    The bulk rows are sealed exactly as ``vault.set`` seals them (``crypto.seal`` under
    the active master key, associated data = owner and name) and inserted with one
    executemany; a sample is read back through ``vault.reveal_value`` to prove they open.
    """
    from flowat_kernel.store import utcnow
    from flowat_kernel.store.tables import SecretEventRow, SecretRow
    from flowat_kernel.vault import crypto

    values = {f"bench_{i:05d}": secret_value(i) for i in range(count)}
    names = list(values)
    per_call = []
    for name in names[:set_calls]:
        start = time.perf_counter_ns()
        vault.set(name, values[name])
        per_call.append(time.perf_counter_ns() - start)

    def bulk() -> None:
        ring = vault.keyring
        now = utcnow()
        rows, events = [], []
        for name in names[set_calls:]:
            aad = crypto.associated_data("flowat secret v1", OWNER, name)
            sealed = crypto.seal(ring.active_key, ring.active, values[name].encode(), aad)
            rows.append(
                {
                    "owner": OWNER,
                    "name": name,
                    "key_id": sealed.key_id,
                    "nonce": sealed.nonce,
                    "ciphertext": sealed.ciphertext,
                    "tag": sealed.tag,
                    "wrapped_key": sealed.wrapped_key,
                    "version": 1,
                    "created_at": now,
                    "created_by": OWNER,
                }
            )
            events.append({"owner": OWNER, "name": name, "action": "set", "version": 1, "at": now})
            events[-1]["actor"] = OWNER

        def work(session: Session) -> None:
            session.execute(insert(SecretRow), rows)
            session.execute(insert(SecretEventRow), events)

        vault.store.transaction(work)

    bulk_s, _ = timed(bulk) if count > set_calls else (0.0, None)
    for name in names[:: max(1, count // 50)]:
        if vault.reveal_value(name) != values[name]:
            raise RuntimeError(f"secret {name} does not read back")
    bulk_rows = count - set_calls
    return {
        "secrets": count,
        "via_vault_set": set_calls,
        "vault_set": summary_ms(per_call) if per_call else None,
        "via_bulk_insert": bulk_rows,
        "bulk_insert_s": bulk_s,
        "bulk_insert_ms_per_secret": bulk_s * 1000 / bulk_rows if bulk_rows else None,
        "total_s": sum(per_call) / 1e9 + bulk_s,
    }, values


# -- handle resolution ---------------------------------------------------------------


def measure_handles(vault: Any, name: str, value: str, calls: int, warmup: int) -> dict:
    from flowat_kernel.step_context import StepScope, step_scope
    from flowat_kernel.store.tables import SecretRow
    from flowat_kernel.vault import crypto
    from flowat_kernel.vault.handles import SecretHandle

    store = vault.store
    sessions = sessionmaker(store.engine, expire_on_commit=False)  # as the Store's own
    writes: dict[str, int] = {}
    path = [""]

    def count_usage_writes(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE SECRETS"):
            writes[path[0]] = writes.get(path[0], 0) + 1

    row = store.transaction(
        lambda s: s.scalars(
            select(SecretRow).where(SecretRow.owner == OWNER, SecretRow.name == name)
        ).one()
    )
    pk = row.id
    sealed = crypto.Sealed(row.nonce, row.ciphertext, row.tag, row.wrapped_key, row.key_id)
    master = vault.keyring.get(row.key_id)
    aad = crypto.associated_data("flowat secret v1", OWNER, name)
    core_query = select(SecretRow.__table__).where(SecretRow.__table__.c.id == pk)

    def orm_read() -> None:
        with sessions.begin() as session:
            session.get(SecretRow, pk)

    def core_read() -> None:
        with store.engine.connect() as conn:
            conn.execute(core_query).one()

    def handle_in_step() -> None:
        with step_scope(StepScope(OWNER, "bench_workflow", "bench-run", "bench_step")):
            SecretHandle(name).reveal()

    def handle_outside_step() -> None:
        SecretHandle(name).reveal()

    def tagged(key: str, action: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            path[0] = key
            return action()

        return run

    actions = {
        "baseline_orm_read_by_pk": orm_read,
        "core_read_by_pk": core_read,
        "crypto_open_sealed": lambda: crypto.open_sealed(master, sealed, aad),
        "vault_reveal_value": lambda: vault.reveal_value(name),
        "handle_reveal_in_step": handle_in_step,
        "handle_reveal_outside_step": handle_outside_step,
        "vault_record_usage": lambda: vault.record_usage([name], None),
    }
    actions = {key: tagged(key, action) for key, action in actions.items()}
    # Counts the UPDATEs of ``secrets`` issued on each path, the checks' first reveal
    # outside a step apart: such a reveal writes at most once a minute per secret, and
    # the timed loop lasts seconds.
    sqlalchemy.event.listen(store.engine, "before_cursor_execute", count_usage_writes)
    try:
        path[0] = "checks"
        for check in (
            lambda: crypto.open_sealed(master, sealed, aad).decode(),
            lambda: vault.reveal_value(name),
            lambda: SecretHandle(name).reveal(),
        ):
            if check() != value:
                raise RuntimeError("a reveal path returned the wrong value")
        result = interleaved(actions, calls, warmup)
    finally:
        sqlalchemy.event.remove(store.engine, "before_cursor_execute", count_usage_writes)
    result["usage_writes_of_first_reveal_outside_step"] = writes.get("checks", 0)
    base = result["baseline_orm_read_by_pk"]["median_ms"]
    for key in actions:
        result[key]["ratio_to_baseline"] = result[key]["median_ms"] / base
        result[key]["usage_writes"] = writes.get(key, 0)  # warm-up and timed calls
    return result


def measure_first_reveals(vault: Any, names: list[str], mask_each: bool) -> dict:
    """Reveal distinct secrets once each, in a step: each first reveal registers a value.

    Registering only drops the masking pattern; the next masked write rebuilds it over
    every value registered so far. ``mask_each``: after each reveal (inside the timed
    part) mask one short line, as a step that prints between reveals would. Either way,
    one masked line after the loop is timed as ``mask_after_s``.
    """
    from flowat_kernel.step_context import StepScope, step_scope
    from flowat_kernel.vault.handles import SecretHandle
    from flowat_kernel.vault.redaction import redact_text

    line = "fetched page 1 of 3 from the API\n"
    samples = []
    with step_scope(StepScope(OWNER, "bench_workflow", "bench-run", "bench_step")):
        for name in names:
            start = time.perf_counter_ns()
            SecretHandle(name).reveal()
            if mask_each:
                redact_text(line)
            samples.append(time.perf_counter_ns() - start)
    mask_after_s, _ = timed(lambda: redact_text(line))
    marks = sorted({1, 10, 50, 100, 200, 500, len(samples)} & set(range(1, len(samples) + 1)))
    return {
        "distinct_secrets": len(samples),
        "mask_after_each": mask_each,
        "nth_first_reveal_ms": {str(n): round(samples[n - 1] / 1e6, 3) for n in marks},
        "total_s": sum(samples) / 1e9,
        "mask_after_s": mask_after_s,
        "samples_ms": [round(s / 1e6, 3) for s in samples],
    }


# -- rotation ------------------------------------------------------------------------


def rewrite_bulk(store: Any, target: str, batch_size: int) -> int:
    """Baseline: per batch transaction, read (id, wrapped_key), write them back in one
    executemany, moving ``key_id`` to ``target``. No crypto."""
    from flowat_kernel.store.tables import SecretRow

    table = SecretRow.__table__
    pick = select(table.c.id, table.c.wrapped_key).where(table.c.key_id != target)
    write = (
        update(table)
        .where(table.c.id == sqlalchemy.bindparam("row_id"))
        .values(wrapped_key=sqlalchemy.bindparam("w"), key_id=target)
    )
    done = 0
    while True:

        def work(session: Session) -> int:
            rows = session.execute(pick.limit(batch_size)).all()
            if rows:
                session.connection().execute(write, [{"row_id": i, "w": w} for i, w in rows])
            return len(rows)

        count = store.transaction(work)
        if count == 0:
            return done
        done += count


def replay_rotation_statements(store: Any, target: str, batch_size: int) -> int:
    """Diagnostic: ``Vault._rewrap_batch``'s statements, without crypto.

    Per batch transaction and per table (``secrets``, then ``vault_keys``): a Core select
    of the next ``batch_size`` rows not under ``target`` (``id, key_id, wrapped_key``,
    plus ``owner, name`` for secrets, which the product needs for the associated data),
    then one executemany ``UPDATE ... WHERE id = :row_id AND key_id = :old_key``. The
    wrapped key is written back unchanged instead of re-wrapped.
    """
    from flowat_kernel.store.tables import SecretRow, VaultKeyRow

    def batch(session: Session, table: Any, extra: list[Any]) -> int:
        rows = session.execute(
            select(table.c.id, table.c.key_id, table.c.wrapped_key, *extra)
            .where(table.c.key_id != target)
            .limit(batch_size)
        ).all()
        if not rows:
            return 0
        session.execute(
            update(table)
            .where(
                table.c.id == sqlalchemy.bindparam("row_id"),
                table.c.key_id == sqlalchemy.bindparam("old_key"),
            )
            .values(wrapped_key=sqlalchemy.bindparam("new_wrapped"), key_id=target),
            [
                {"row_id": row.id, "old_key": row.key_id, "new_wrapped": row.wrapped_key}
                for row in rows
            ],
        )
        return len(rows)

    secrets, keys = SecretRow.__table__, VaultKeyRow.__table__
    done = 0
    while True:

        def work(session: Session) -> int:
            count = batch(session, secrets, [secrets.c.owner, secrets.c.name])
            return count + batch(session, keys, [])

        count = store.transaction(work)
        if count == 0:
            return done
        done += count


def rewrap_only(vault: Any) -> tuple[float, int]:
    """Diagnostic: ``crypto.rewrap`` of every row's data key in memory (no database)."""
    from flowat_kernel.store.tables import SecretRow
    from flowat_kernel.vault import crypto

    table = SecretRow.__table__
    rows = vault.store.transaction(
        lambda s: s.execute(select(table.c.owner, table.c.name, table.c.wrapped_key)).all()
    )
    ring = vault.keyring
    old = new = ring.active_key
    start = time.perf_counter()
    for owner, name, wrapped in rows:
        aad = crypto.associated_data("flowat secret v1", owner, name)
        crypto.rewrap(old, new, wrapped, aad)
    return time.perf_counter() - start, len(rows)


def restore_key_id(store: Any, key_id: str) -> None:
    """Put every row of both tables back under ``key_id`` (they all were before)."""
    from flowat_kernel.store.tables import SecretRow, VaultKeyRow

    def work(session: Session) -> None:
        session.execute(update(SecretRow.__table__).values(key_id=key_id))
        session.execute(update(VaultKeyRow.__table__).values(key_id=key_id))

    store.transaction(work)


def count_rows(store: Any, table: Any) -> int:
    return int(
        store.transaction(
            lambda s: s.execute(select(sqlalchemy.func.count()).select_from(table)).scalar()
        )
    )


def measure_rotation(vault: Any, values: dict[str, str], batch_size: int, reps: int) -> dict:
    from flowat_kernel.store.tables import SecretRow, VaultKeyRow

    store = vault.store
    count = len(values)
    key_rows = count_rows(store, VaultKeyRow.__table__)
    if count_rows(store, SecretRow.__table__) != count:
        raise RuntimeError("the secrets table does not hold exactly the populated secrets")
    samples: dict[str, list[float]] = {key: [] for key, _ in ROTATION_ROWS}
    reports = []
    for rep in range(reps):  # interleaved, so drifting load hits all alike
        active = vault.reload_keys().active
        for key, rows, rewrite in (
            ("baseline_bulk_rewrite", count, lambda t: rewrite_bulk(store, t, batch_size)),
            (
                "replay_statements_no_crypto",
                count + key_rows,
                lambda t: replay_rotation_statements(store, t, batch_size),
            ),
        ):
            target = f"bench-{rep}"
            seconds, done = timed(lambda rewrite=rewrite, target=target: rewrite(target))
            if done != rows:
                raise RuntimeError(f"{key} rewrote {done} rows, expected {rows}")
            samples[key].append(seconds)
            restore_key_id(store, active)  # untimed: the rows are the vault's again
        seconds, rewrapped = rewrap_only(vault)
        samples["crypto_rewrap_only"].append(seconds * count / rewrapped)
        seconds, report = timed(lambda: vault.rotate_master_key(batch_size=batch_size))
        if report.rewrapped != count + key_rows or report.remaining:
            raise RuntimeError(f"rotation incomplete: {report.as_dict()}")
        samples["rotate_master_key"].append(seconds)
        reports.append(report.as_dict())
    vault.reload_keys()
    for name in list(values)[:: max(1, count // 50)]:
        if vault.reveal_value(name) != values[name]:
            raise RuntimeError(f"secret {name} does not read back after rotation")
    out: dict[str, Any] = {
        "secrets": count,
        "vault_keys_rows": key_rows,
        "batch_size": batch_size,
        "reps": reps,
    }
    base = statistics.median(samples["baseline_bulk_rewrite"])
    for key, values_s in samples.items():
        med = statistics.median(values_s)
        out[key] = {
            "median_s": med,
            "ms_per_secret": med * 1000 / count,
            "ratio_to_baseline": med / base,
            "samples_s": [round(s, 3) for s in values_s],
        }
    out["last_report"] = {k: v for k, v in reports[-1].items() if k != "retired"}
    return out


# -- backends ------------------------------------------------------------------------


def pg_version(store: Any) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW server_version").scalar())


def run_backend(label: str, database_url: str | None, args: argparse.Namespace) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"flowat-bench-vault-{label}-"))
    os.environ["FLOWAT_HOME"] = str(home)
    os.environ["FLOWAT_OWNER"] = OWNER
    for name in ("FLOWAT_MASTER_KEY", "FLOWAT_REDIS_URL", "FLOWAT_DATABASE_URL"):
        os.environ.pop(name, None)
    if database_url:
        os.environ["FLOWAT_DATABASE_URL"] = database_url
    from flowat_kernel.runtime import get_runtime, reset_runtime

    reset_runtime()
    try:
        vault = get_runtime().vault
        out: dict[str, Any] = {"database": vault.store.engine.dialect.name}
        if database_url:
            out["server_version"] = pg_version(vault.store)
        print(f"[{label}] populating {args.secrets} secrets ...", flush=True)
        out["population"], values = populate(vault, args.secrets, args.set_calls)
        handle_name = list(values)[args.secrets // 2]
        print(f"[{label}] handle resolution, {args.calls} calls per path ...", flush=True)
        out["handle"] = measure_handles(
            vault, handle_name, values[handle_name], args.calls, args.warmup
        )
        print(f"[{label}] rotation of {args.secrets} secrets x {args.reps} ...", flush=True)
        out["rotation"] = measure_rotation(vault, values, args.batch_size, args.reps)
        if label == "sqlite" and args.first_reveals:
            n = args.first_reveals
            print(f"[{label}] first reveals of 2 x {n} distinct secrets ...", flush=True)
            names = [name for name in values if name != handle_name][: 2 * n]
            out["first_reveals_mask_each"] = measure_first_reveals(vault, names[:n], True)
            out["first_reveals"] = measure_first_reveals(vault, names[n:], False)
        return out
    finally:
        reset_runtime()
        shutil.rmtree(home, ignore_errors=True)


# -- report --------------------------------------------------------------------------

HANDLE_ROWS = (
    ("baseline_orm_read_by_pk", "baseline: ORM read by primary key"),
    ("core_read_by_pk", "Core read by primary key"),
    ("crypto_open_sealed", "crypto.open_sealed alone"),
    ("vault_reveal_value", "vault.reveal_value"),
    ("handle_reveal_in_step", "SecretHandle.reveal(), in a step"),
    ("handle_reveal_outside_step", "SecretHandle.reveal(), outside a step"),
    ("vault_record_usage", "vault.record_usage (once a minute)"),
)
ROTATION_ROWS = (
    ("baseline_bulk_rewrite", "baseline: rewrite wrapped_key, no crypto"),
    ("crypto_rewrap_only", "crypto.rewrap alone (no database)"),
    ("replay_statements_no_crypto", "rotation's statements, no crypto"),
    ("rotate_master_key", "vault.rotate_master_key()"),
)


def report(results: dict) -> None:
    for label, backend in results["backends"].items():
        if "skipped" in backend:
            print(f"\n{label}: skipped ({backend['skipped']})")
            continue
        pop = backend["population"]
        print(f"\n== {label} ==")
        per_set = pop["vault_set"]["median_ms"] if pop["vault_set"] else float("nan")
        print(
            f"population: {pop['via_vault_set']} x vault.set (median {per_set:.2f} ms) + "
            f"{pop['via_bulk_insert']} bulk-inserted in {pop['bulk_insert_s']:.2f} s; "
            f"total {pop['total_s']:.1f} s (not a target)"
        )
        handle = backend["handle"]
        calls = handle["baseline_orm_read_by_pk"]["calls"]
        print(f"\nhandle resolution ({calls} calls each, interleaved)")
        print(f"{'path':<42}{'median':>10}{'p95':>10}{'p99':>10}{'x base':>9}{'writes':>8}")
        for key, text in HANDLE_ROWS:
            row = handle[key]
            print(
                f"{text:<42}{row['median_ms']:>8.3f}ms{row['p95_ms']:>8.3f}ms"
                f"{row['p99_ms']:>8.3f}ms{row['ratio_to_baseline']:>8.2f}x"
                f"{row['usage_writes']:>8}"
            )
        print(
            f"(writes: UPDATEs of secrets in the warm-up and {calls} timed calls; the first "
            "reveal outside a step, before them: "
            f"{handle['usage_writes_of_first_reveal_outside_step']})"
        )
        rot = backend["rotation"]
        print(
            f"\nrotation of {rot['secrets']} secrets, batch {rot['batch_size']}, "
            f"median of {rot['reps']}"
        )
        print(f"{'path':<42}{'median':>10}{'per secret':>13}{'x base':>9}")
        for key, text in ROTATION_ROWS:
            row = rot[key]
            print(
                f"{text:<42}{row['median_s']:>9.2f}s{row['ms_per_secret'] * 1000:>10.0f} us"
                f"{row['ratio_to_baseline']:>8.2f}x"
            )
        print(
            f"x base = time / baseline time; vault_keys rows rotated too: {rot['vault_keys_rows']}"
        )
        step = handle["handle_reveal_in_step"]["median_ms"]
        outside = handle["handle_reveal_outside_step"]["median_ms"]
        rotation = rot["rotate_master_key"]["median_s"]
        print(
            f"targets: handle < {HANDLE_TARGET_MS:g} ms: in a step {step:.3f} ms "
            f"({'met' if step < HANDLE_TARGET_MS else 'NOT met'}), outside a step "
            f"{outside:.3f} ms ({'met' if outside < HANDLE_TARGET_MS else 'NOT met'}); "
            f"rotation < {ROTATION_TARGET_S:g} s: {rotation:.2f} s "
            f"({'met' if rotation < ROTATION_TARGET_S else 'NOT met'})"
        )
        for key, text in (
            ("first_reveals_mask_each", "each followed by one masked line"),
            ("first_reveals", "reveals only"),
        ):
            if key not in backend:
                continue
            first = backend[key]
            marks = ", ".join(
                f"#{n}: {ms:.2f} ms" for n, ms in first["nth_first_reveal_ms"].items()
            )
            print(
                f"first reveal of {first['distinct_secrets']} distinct secrets in one "
                f"process, {text}: {marks}; total {first['total_s']:.2f} s; "
                f"one masked line after: {first['mask_after_s'] * 1000:.2f} ms"
            )


def machine_info() -> dict[str, Any]:
    return machine(
        sqlalchemy=sqlalchemy.__version__,
        cryptography=cryptography.__version__,
        psycopg=psycopg_version(),
        sqlite=sqlite3.sqlite_version,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=10_000, help="secrets to rotate")
    parser.add_argument("--set-calls", type=int, default=200, help="of them via vault.set")
    parser.add_argument("--calls", type=int, default=2000, help="timed reveals per path")
    parser.add_argument("--warmup", type=int, default=200, help="untimed reveals per path")
    parser.add_argument("--batch-size", type=int, default=500, help="rotation batch size")
    parser.add_argument("--reps", type=int, default=5, help="rotations (and baselines)")
    parser.add_argument(
        "--first-reveals",
        type=int,
        default=200,
        help="distinct secrets revealed once, twice over (SQLite)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    args = parser.parse_args()
    args.set_calls = min(args.set_calls, args.secrets)

    results: dict[str, Any] = {
        "benchmark": "vault",
        "settings": vars(args),
        "targets": {"handle_ms": HANDLE_TARGET_MS, "rotation_s": ROTATION_TARGET_S},
        "machine": machine_info(),
        "backends": {},
    }
    started = time.perf_counter()
    results["backends"]["sqlite"] = run_backend("sqlite", None, args)
    if args.no_postgres:
        results["backends"]["postgresql"] = {"skipped": "--no-postgres"}
    else:
        url, why = pg_create("flowat_bench_vault")
        if url is None:
            print(f"PostgreSQL skipped: {why}")
            results["backends"]["postgresql"] = {"skipped": why}
        else:
            try:
                results["backends"]["postgresql"] = run_backend("postgresql", url, args)
            finally:
                pg_drop(url)
    results["wall_s"] = time.perf_counter() - started
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten {args.out} ({results['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()

"""AI building blocks the ``llm`` connector and the engine share.

| module | job |
| --- | --- |
| ``structured`` | an output schema (pydantic model or JSON schema); checking answers |
| ``prompts`` | prompt templates rendered with the expression language |
| ``agent`` | the agent loop's plan, state and deterministic decisions (budgets, tools) |
| ``vectors`` | chunking documents and a DuckDB-backed vector index |

Nothing here does network I/O; the connector's actions and the engine's activities do.
"""

"""AI building blocks the ``llm`` connector and the engine share.

| module | job |
| --- | --- |
| ``structured`` | an output schema (pydantic model or JSON schema); checking answers |
| ``prompts`` | prompt templates rendered with the expression language |
| ``prompt_library`` | named prompts: the run's version's, or the notebook's cells and files |
| ``agent`` | the agent loop's plan, state and deterministic decisions (budgets, tools) |
| ``step_tools`` | ``--tool`` steps of the agent's workflow: parameters, argument checks, the call |
| ``vectors`` | chunking documents and a DuckDB-backed vector index |

Nothing here does network I/O; the connector's actions and the engine's activities do.
"""

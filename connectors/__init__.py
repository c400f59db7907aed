"""FlowAt's built-in connectors, one module each.

They register through the ``flowat.connectors`` entry-point group exactly as third-party
connectors do.
"""

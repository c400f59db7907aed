"""FlowAt's built-in connectors, one module each, registered through the
``flowat.connectors`` entry-point group exactly as third-party connectors are."""

"""The Forward-protocol server: modes, handshake, acks."""

"""Operations: launch verification, support bundles and traces, dead letters, key rotation."""

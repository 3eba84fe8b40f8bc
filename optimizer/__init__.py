"""optimizer: search routing thresholds on an off-policy replay of stored turns; propose a PolicyDiff."""

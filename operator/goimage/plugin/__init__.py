"""`kubectl gib`: the kubectl plugin for GoImageBuilds (console script `kubectl-gib`).

Its commands read what the operator wrote (status, build Jobs, build pods) and
what the build pod pushed (SBOM, provenance); only `rebuild` writes, and only
the rebuild annotation.
"""

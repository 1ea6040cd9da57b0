"""One exception type per kind of bad input; every message says what to do about it."""


class AssessError(Exception):
    """Base of every error a user can act on."""


class UnknownWorkflowError(AssessError, LookupError):
    pass


class UnknownChoiceError(AssessError, LookupError):
    """A data source, order or other option that is not one of the valid choices."""


class InvalidOptionError(AssessError, ValueError):
    """An export option that cannot be used as given (e.g. Annotated Files without an order)."""


class InvalidValueError(AssessError, ValueError):
    """An attribute value that does not fit its attribute's type."""


class InvalidGeometryError(AssessError, ValueError):
    pass


class ImportRecordError(AssessError, ValueError):
    """A record of an import file that cannot be imported; nothing was imported."""


class MissingImageError(AssessError, FileNotFoundError):
    pass


class LinkError(AssessError, PermissionError):
    """An expired, forged or foreign download link."""


class NotAdminError(AssessError, PermissionError):
    pass


class StoreIntegrityError(AssessError, ValueError):
    """The store holds data that breaks a rule the writer keeps (written around it)."""


class JobQueueError(AssessError, RuntimeError):
    """The job queue did not take a requested job (its Redis or its file not answering): the
    job is recorded as failed, with the reason."""


class OutputPathError(AssessError, OSError):
    """An output path that cannot be written (a missing folder, a folder, no permission)."""

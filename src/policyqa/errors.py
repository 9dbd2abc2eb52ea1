"""One exception tree: the library raises these and never prints or exits; the CLI and the
web app turn them into one readable line."""


class PolicyQAError(Exception):
    """Base of every error policyqa raises on purpose."""


class DocumentError(PolicyQAError):
    """A file could not be read as a document (corrupt, encrypted, empty, too large...)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelError(PolicyQAError):
    """The embedding model is missing, incomplete or not the expected weights."""


class IndexMissingError(PolicyQAError):
    """No index has been built at the given location."""


class IndexMismatchError(PolicyQAError):
    """The index was built with other settings (model, tokenizer, chunking, schema)."""


class IndexBusyError(PolicyQAError):
    """Another build holds the index lock."""


class IndexCorruptError(PolicyQAError):
    """The index files are missing, truncated or unreadable; `policyqa index` rebuilds it."""


class IndexWriteError(PolicyQAError):
    """A new index generation could not be written (disk full, read-only, no permission);
    the previous generation stays in use."""


class UnknownDocumentError(PolicyQAError, KeyError):
    """No document with that id in the index (also a KeyError, as a mapping lookup would be)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class QueryError(PolicyQAError, ValueError):
    """A question or filter that cannot be searched: not text, too long, a date that is not a
    date, a result count out of range."""

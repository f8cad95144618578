"""Exceptions whose message is one line that names the input at fault."""


class BookembedError(Exception):
    """Base class: the CLI and the app show ``str(err)`` and no traceback."""


class CorpusError(BookembedError):
    """Bad input records: the message names the file and the line or field."""


class ModelFolderError(BookembedError):
    """A model folder that is missing, damaged or from an incompatible version."""


class DownloadError(BookembedError):
    """A download that failed; the partial file is kept for resuming."""


class WriteError(BookembedError):
    """A file or folder that cannot be written; the message names it."""


class DumpError(CorpusError):
    """A Wikipedia dump, its index or a dump job that cannot be read: names the file and the byte offset or page."""


def open_input(path, error: type[BookembedError], expected: str):
    """``open(path, "rb")``, or ``error`` with one line naming the file: missing, a folder, or unreadable.

    ``expected`` names what the file should be ("a records file"), for the message about a folder.
    """
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected {expected}") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror})") from None

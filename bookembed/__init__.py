"""bookembed: learn and explore entity embeddings of Wikipedia books.

The library is organised by stage (see the README): ``corpus`` reads records,
``training`` learns vectors, ``store`` writes and reads the model folder,
``neighbors`` answers similarity queries, ``evaluate`` scores a model,
``projection`` maps vectors to 2-D/3-D, ``export`` writes Projector files.
Nothing here imports streamlit, and heavy libraries (tensorflow, umap) are
imported inside the functions that need them.
"""

__version__ = "0.1.0"

from bookembed.errors import BookembedError, CorpusError, ModelFolderError  # noqa: E402

__all__ = ["BookembedError", "CorpusError", "ModelFolderError", "__version__"]

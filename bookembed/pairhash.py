"""The pair hash of the true-pair bitmap, shared by the sampler and the compiled kernels.

``(book * HASH_B + link * HASH_L) mod 2**log_bits``: ``sampling.pair_bitmap``
sets a bit per true pair by it, and ``sampling.maybe_true_pair`` and the
kernels (``kernels._pair_bit``, ``kernels.hashed_pair_hits``) test draws by it.
In a module of its own, so that neither of those two imports the other for it.
"""

HASH_B, HASH_L = 2654435761, 40503
"""The pair hash's two multipliers (``HASH_B`` for the book, ``HASH_L`` for the link)."""

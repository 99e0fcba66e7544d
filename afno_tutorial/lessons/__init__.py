"""What the notebooks measure and demonstrate: one module per lesson topic.

``convolution`` (the FFT as a global convolution), ``truncation`` (which modes a truncation keeps), ``ladder``
(from FNO to AFNO one change at a time), ``resolution`` (``norm`` and resolution independence), ``sparsity``
(what soft-thresholding switches off), ``symmetry`` (shift equivariance), ``jacobian`` (token-mixing maps),
``probes`` (a mixer's own part of its output), ``images`` (test images that ship offline).
"""

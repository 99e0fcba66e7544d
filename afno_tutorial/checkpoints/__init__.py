"""Small pretrained backbones shipped with the package (``<mixer>.pt``), made by ``python -m afno_tutorial.pretrain``.

Load one with :func:`afno_tutorial.pretrain.load_pretrained`.
"""

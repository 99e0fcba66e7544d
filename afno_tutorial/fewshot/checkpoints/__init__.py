"""Small pretrained backbones shipped with the package (``<mixer>.pt``), made by ``python -m afno_tutorial.pretrain``.

Load one with :func:`afno_tutorial.fewshot.pretrain.load_pretrained`.
"""

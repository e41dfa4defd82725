"""Building blocks that submissions share: backbones and heads, training recipes, U-Nets, two-stage systems.

Submissions of the seed papers are mostly the same few architectures under different recipes; building them from
one catalogue (:mod:`benchmark.models.backbones`) and one recipe reader (:mod:`benchmark.training.recipes`) keeps a
"VGG16" the same network everywhere, so differences between submissions are differences of recipe.
"""

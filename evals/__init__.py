"""evals: score every turn, cluster the failures into named modes."""

"""The evaluation workflow of the papers: predictions table -> statistics -> tables, figures, HTML report.

:mod:`~hccp53.evaluation.predictions` reads and checks a predictions table, :mod:`~hccp53.evaluation.metrics`
computes the statistics, :mod:`~hccp53.evaluation.outputs` writes them; :mod:`~hccp53.evaluation.workflow`
builds the table from trained classifiers plus fitted radiomics, clinical and combined models
(:mod:`~hccp53.evaluation.fitted`, on the clinical factors of :mod:`~hccp53.evaluation.clinical`).
"""

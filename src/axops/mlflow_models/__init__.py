"""MLflow's model side on top of axops: the model-registry API (registered models, versions, aliases,
tags, stages, `models:/` URIs) mapped onto the axops registry, MLflow 3 logged models, and dataset
inputs of runs linked to axops dataset versions. One registry, two doors: it uses the registry, datasets
and experiments through their services, which is why it sits above them."""

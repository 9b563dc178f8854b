"""Access policies: which teams and roles may call, deploy or download which models and routes, and which
may send data to external providers. Low in the layers so the registry, the gateway and serving enforce them."""

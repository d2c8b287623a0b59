"""Services: the platform's use cases. They take the storage adapter, raise domain errors
and never import Flask."""

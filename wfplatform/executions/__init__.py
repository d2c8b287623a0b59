"""The execution engine: workflows run node by node (`runner`), recorded behind the storage
adapter, carried by a queue (`queue`: in-process, or RQ on Redis), watched by a sweeper
(`sweeper`) and followed through events (`events`). `service.Executions` is the use case
the API calls."""

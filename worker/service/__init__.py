"""What the service faces (worker/handler.py for RunPod queues, worker/server.py for HTTP) share:
the request parser, the result contract, and how a result is delivered (inline or via a bucket)."""

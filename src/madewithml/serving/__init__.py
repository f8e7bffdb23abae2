"""The HTTP service (Ray Serve + FastAPI): request schemas, the request guard, the deployment,
answers as JSON.
"""

"""After shipping: what the service answered (`request_log`), read back for monitoring."""

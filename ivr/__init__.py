"""FastAGI voice menu (IVR) of the merchant hotline."""

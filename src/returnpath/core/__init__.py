"""The pure core: values in, values out. No sockets, no SQL, no clock, no environment."""

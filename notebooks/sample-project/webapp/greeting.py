def greeting(name: str = "world") -> str:
    """The app's greeting."""
    return f"hello {name}!"

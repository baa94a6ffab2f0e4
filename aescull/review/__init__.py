"""``aescull review``: the library in the browser, where a person confirms or overrides each decision with the keyboard."""

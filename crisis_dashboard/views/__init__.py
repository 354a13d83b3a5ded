"""The pages' bodies, one module per page, named as the page's address, each with `show(state)`."""

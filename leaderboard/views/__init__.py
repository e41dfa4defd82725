"""One module per page; each is also the page's script (``render()`` runs when Streamlit executes the file)."""

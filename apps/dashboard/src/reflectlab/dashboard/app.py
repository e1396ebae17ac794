"""The file ``streamlit run`` serves (``platform dashboard`` starts it); the pages live in :mod:`.navigation`."""

from reflectlab.dashboard.navigation import main

main()

"""Streamlit front end: entrypoint, navigation, widgets, figure builders and cached resources."""

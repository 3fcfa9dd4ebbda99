"""A recorded section (components.replay) that reaches a queued load draws no widget inside the recording.

The first student on a cold worker records the section while its model is still loading: the job pool's
Cancel button would be drawn inside Streamlit's cached function, which Streamlit reports on the page as
"Your script uses a widget command in a cached function". Seen when the segmentation page's scenes
section loaded its decoder inside the replay."""

from streamlit.testing.v1 import AppTest


def _script():
    import uuid

    import streamlit as st

    from dashboard import components, resources

    key = st.session_state.setdefault("fresh_key", uuid.uuid4().hex)  # a value no earlier run computed

    def section():
        value = resources.compute("views", ("replay-widget-test", key), lambda progress: 41 + 1,
                                  "Loading ...", heavy=True)
        st.write(f"value={value}")

    components.replay("test.replay-widgets", key, section)
    st.button("Cancel", key="outside")  # the page's own widgets are untouched


def test_a_heavy_job_inside_a_recorded_section_draws_no_widget():
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("value=42" in m.value for m in at.markdown)
    assert [b.key for b in at.button] == ["outside"]  # no Cancel button recorded into the section
    at.run()  # the replay (the value is cached now) shows the same
    assert not at.exception and any("value=42" in m.value for m in at.markdown)

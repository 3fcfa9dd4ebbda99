"""#25: a job nobody waits for is cancelled, also when its student leaves the page (not only the tab)."""

from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st

    from core.cache import Pending
    from dashboard import resources

    me = resources._session_id()
    if "jobs_made" not in st.session_state:  # a job queued on Deep Dream (only this student wants it), one on Grad-CAM
        alone, shared = Pending("dream-key", "dream"), Pending("cam-key", "cam")
        alone.waiters.add(me)
        shared.waiters.update({me, "another student"})
        st.session_state["jobs_made"] = (alone, shared)
        st.session_state["_my_jobs"] = {"dream": alone, "heatmap": shared}
        st.session_state["_my_job_pages"] = {"dream": "deep-dream", "heatmap": "deep-dream"}
    alone, shared = st.session_state["jobs_made"]
    resources.withdraw_elsewhere(st.session_state.get("page", "deep-dream"))
    st.write(f"alone={alone.cancel_requested} shared={shared.cancel_requested} "
             f"others={sorted(shared.waiters)} kept={sorted(st.session_state['_my_jobs'])}")


def test_leaving_the_page_withdraws_interest_and_cancels_what_nobody_else_waits_for():
    at = AppTest.from_function(_script).run()
    text = at.markdown[0].value
    assert "alone=False" in text and "kept=['dream', 'heatmap']" in text  # staying on the page keeps both
    at.session_state["page"] = "grad-cam"
    at.run()
    text = at.markdown[0].value
    assert "alone=True" in text  # nobody else wanted it: cancelled
    assert "shared=False" in text and "others=['another student']" in text  # still wanted by someone else
    assert "kept=[]" in text

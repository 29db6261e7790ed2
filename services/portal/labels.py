"""Human names of the services' codes (statuses, responses, dimensions, history fields).

Marked with N_ so that Babel extracts them; templates translate them with `_(label(...))`.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Babel's conventional marker: extracted for translation, translated later (in the template)."""
    return message


LABELS: dict[str, str] = {
    # implementation status
    "not_started": N_("Not started"),
    "planned": N_("Planned"),
    "in_progress": N_("In progress"),
    "partially_implemented": N_("Partially implemented"),
    "implemented": N_("Implemented"),
    "not_implemented": N_("Not implemented"),
    "overtaken_by_events": N_("Overtaken by events"),
    # response
    "pending": N_("Pending"),
    "accepted": N_("Accepted"),
    "partially_accepted": N_("Partially accepted"),
    "rejected": N_("Rejected"),
    "noted": N_("Noted"),
    # verification
    "unverified": N_("Unverified"),
    "verified": N_("Verified"),
    "contested": N_("Contested"),
    # dimensions of the Cluster Initiative Model
    "setting": N_("Cluster setting"),
    "objectives": N_("Cluster objectives"),
    "processes": N_("Processes"),
    # history fields
    "opened": N_("Opened"),
    "response": N_("Response"),
    "implementation_status": N_("Implementation status"),
    "responsible_body": N_("Responsible body"),
    "owner": N_("Owner"),
    "planned_completion": N_("Planned completion"),
    "notes": N_("Notes"),
    "evidence": N_("Evidence"),
    "verification": N_("Verification"),
    "due_date": N_("Due date"),
    "recommendation_version": N_("Recommendation version"),
    "closed": N_("Closed"),
    # event types (My notifications)
    "recommendation.issued": N_("A recommendation is issued"),
    "recommendation.revised": N_("A recommendation is revised"),
    "recommendation.withdrawn": N_("A recommendation is withdrawn"),
    "seminar.scheduled": N_("A seminar is scheduled"),
    "seminar.report_published": N_("A seminar report is published"),
    "followup.opened": N_("A follow-up is opened"),
    "followup.response_recorded": N_("A city records its response"),
    "followup.status_changed": N_("An implementation status changes"),
    "followup.evidence_added": N_("Evidence is added"),
    "followup.verified": N_("The lead partner verifies or contests"),
    "followup.due_soon": N_("A follow-up is due soon"),
    "followup.overdue": N_("A follow-up is overdue"),
    # seminar stages and recommendation stages and actions (the lead partner's pages)
    "scheduled": N_("Scheduled"),
    "held": N_("Held"),
    "report_published": N_("Report published"),
    "draft": N_("Draft"),
    "issued": N_("Issued"),
    "revised": N_("Revised"),
    "withdrawn": N_("Withdrawn"),
    "drafted": N_("Drafted"),
    "title": N_("Title"),
    "text": N_("Text"),
    "dimension": N_("Dimension"),
    # delivery modes
    "immediate": N_("Immediately"),
    "digest": N_("Daily digest"),
    # roles
    "admin": N_("Administrator"),
    "lead_partner": N_("Lead partner"),
    "city_official": N_("City official"),
    "integration": N_("Integration"),
}


def label(code: str | None) -> str:
    """The English label of a code (translated by the caller), or the code itself."""
    return LABELS.get(code or "", code or "")

"""The rehabilitation record of a referral (SPEC §10, ATENSI): assessments, the service
plan, appointments and attendance, services delivered, notes, the end-of-service report."""

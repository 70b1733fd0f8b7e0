"""The cohort: validated tables joined on one course key, with derived fields, filters and a cache."""

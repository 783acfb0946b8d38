"""The static, offline HTML rule catalog of ``rules doc`` and its graphs."""

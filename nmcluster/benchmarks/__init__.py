"""The platform guidebook's benchmarks (chapter 7): ``benchmarks.json`` repositories run as nmcluster jobs,
their measurement reports harvested into a database, and a static dashboard.

``spec`` reads and checks ``benchmarks.json`` and reports; ``runner`` submits, harvests and watches;
``db`` is the measurement database; ``dashboard`` writes the web pages; ``task`` wraps a task that needs
extra packages.
"""

"""Reports of the warehouse for people: text and machine formats (text.py) and one self-contained
HTML page (html.py), both from read-only queries (data.py) of the gold questions, whose one list is
the dbt project's (questions.py)."""

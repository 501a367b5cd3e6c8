{#-
    A geo row whose `coordinates` is not exactly [latitude, longitude] (in that order, two
    elements), or is NULL while both parts are present. Fails on any row returned.
-#}
{% test coordinates_follow_latitude_and_longitude(model) %}

    select *
    from {{ model }}
    where
        (
            coordinates is not null
            and (
                {{ array_element('coordinates', 1) }} != latitude
                or {{ array_element('coordinates', 2) }} != longitude
                or {{ array_element('coordinates', 3) }} is not null
            )
        )
        or (coordinates is null and latitude is not null and longitude is not null)

{% endtest %}

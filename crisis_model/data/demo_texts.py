"""The demo dataset's words: templates per humanitarian category, and words that say nothing.

Each category has several phrasings (paraphrases, negations, requests) whose slots are filled at
random, so a model trained on the demo meets its keywords in varied sentences and answers typed
posts sensibly. Vague posts ("Praying for Riverton") go with every category: the photo has to
carry those. Off-topic posts borrow disaster words ("my inbox is a flood") to stay not
humanitarian, so a single word does not decide.
"""

from __future__ import annotations

import random

PLACES = ["Port Alden", "Riverton", "Mesa Verde", "Lakeside", "Hollow Creek", "San Miro"]
FOODS = ["tacos", "ramen", "pancakes", "burgers", "sushi", "pizza"]
STRUCTURES = ["The bridge", "The main road", "Several buildings", "The hospital", "Power lines", "The school roof",
              "Houses", "The old church", "The highway overpass", "Water pipes"]  # fmt: skip
DAMAGED = ["collapsed", "were destroyed", "are badly damaged", "washed away", "cracked", "came down", "caved in"]
HELPERS = ["Rescue teams", "Volunteers", "Firefighters", "The coast guard", "Neighbours", "Red Cross workers"]
HELPING = ["pull people from the rubble", "evacuate families by boat", "hand out water and food",
           "search for survivors", "bring blankets and medicine", "carry the injured to safety"]  # fmt: skip
NEEDS = ["water", "food", "blankets", "medicine", "boats", "volunteers", "donations"]

TEXTS = {
    "not_humanitarian": [
        "Best {food} in {place}, no regrets",
        "Happy birthday to my best friend!",
        "Happy birthday to my favourite person in {place}",
        "Just watched a great movie tonight",
        "Game night with the crew, {food} and snacks",
        "Coffee first, questions later",
        "New haircut, who dis",
        "This meme is too accurate lol",
        "My inbox is a flood of emails today",
        "That exam was a total disaster haha",
        "Hurricane of emotions watching the finale",
        "Not a disaster at all, I just burnt my {food}",
        "The concert in {place} shook the place like an earthquake",
    ],
    "other_relevant_information": [
        "{Event} update: the forecast map shows the {event} reaching {place} tonight",
        "Officials list the open shelters in {place} during the {event}",
        "{n},000 homes without power in {place} after the {event}, says the utility",
        "Chart: rainfall totals across {place} from the {event}",
        'Mayor of {place}: "stay indoors" until the {event} warning ends',
        "We’re tracking the {event}: schools in {place} stay closed on Monday",
        "No damage to the bridge in {place}, roads are open again",
        "Warning: the river in {place} is still rising after the {event}",
        "The {event} is expected to weaken before it reaches {place}",
    ],
    "rescue_volunteering_or_donation_effort": [
        "{helpers} {helping} in {place} after the {event}",
        "Send rescue teams to {place}, people are trapped",
        "Please donate {need} for the {event} victims in {place}",
        "You can help: give {need} to the {event} relief fund for {place}",
        "{helpers} rescued families trapped by the {event} in {place}",
        "We need {need} and volunteers at the shelter in {place}",
    ],
    "infrastructure_and_utility_damage": [
        "{structure} {damaged} in {place} after the {event}",
        "The {event} destroyed homes and knocked out power lines across {place}",
        "Heavy damage in {place}: {structure} {damaged}",
        "Roofs torn off and walls cracked all over {place} #{event}",
        "{structure} {damaged} during the {event}, the road to {place} is closed",
    ],
    "vehicle_damage": [
        "Cars crushed and overturned on the main road of {place} after the {event}",
        "The {event} flipped trucks and wrecked cars in {place}",
    ],
    "affected_individuals": [
        "Families who lost their homes in the {event} sleep in tents in {place}",
        "Thousands displaced in {place} by the {event} need shelter",
        "People in {place} are homeless after the {event}",
    ],
    "injured_or_dead_people": [
        "{n} people injured and several killed in {place} by the {event}",
        "Death toll from the {event} rises in {place}, many wounded",
    ],
    "missing_or_found_people": [
        "MISSING: have you seen this person? Last seen in {place} before the {event}",
        "Good news: missing girl from {place} found safe after the {event}",
    ],
}
VAGUE_TEXTS = [
    "Thinking of everyone in {place} tonight #{event}",
    "Stay safe {place}",
    "Unbelievable scenes from {place}",
    "Wow. #{event}",
    "Praying for {place} 🙏",
    "No words...",
    "This is {place} right now",
    "Look at this",
]


def write_text(rng: random.Random, templates: list[str], event: str) -> str:
    """One post: a template with its slots filled at random, and a link as tweets have."""
    text = rng.choice(templates).format(
        event=event,
        Event=event.capitalize(),
        place=rng.choice(PLACES),
        food=rng.choice(FOODS),
        n=rng.randint(2, 90),
        structure=rng.choice(STRUCTURES),
        damaged=rng.choice(DAMAGED),
        helpers=rng.choice(HELPERS),
        helping=rng.choice(HELPING),
        need=rng.choice(NEEDS),
    )
    return text + " https://t.co/" + "".join(rng.choices("abcdefghijkmnopqrstuvwxyzABCDEFGH0123456789", k=10))

"""Value domains for the emulated source database (docs/data-contract.md, "The source tables").

Everything here is an immutable constant: placeholder strings, the 13 categories with their word pools,
Faker-style country and person names, and the pieces poster (account) names are built from.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Placeholders: exact strings the source uses to mean "missing" ---------------------------------
TITLE_PLACEHOLDER = "No Title Data Available"
DESCRIPTION_PLACEHOLDER = "No description available"
DESCRIPTION_STORY_PLACEHOLDER = "No description available Story format"
USER_INFO_ERROR = "User Info Error"  # both poster_name and follower_count
POSTER_NAME_PLACEHOLDER = USER_INFO_ERROR
FOLLOWER_COUNT_PLACEHOLDER = USER_INFO_ERROR
TAG_LIST_PLACEHOLDER = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMAGE_SRC_PLACEHOLDER = "Image src error."
SAVE_LOCATION_PREFIX = "Local save in "

# --- is_image_or_video values ---------------------------------------------------------------------
KIND_IMAGE = "image"
KIND_STORY = "multi-video(story page format)"
KIND_VIDEO = "video"
KINDS: tuple[str, ...] = (KIND_IMAGE, KIND_STORY, KIND_VIDEO)

IMAGE_URL_PREFIX = "https://i.pinimg.com/originals/"
VIDEO_URL_PREFIX = "https://i.pinimg.com/videos/thumbnails/originals/"
VIDEO_URL_SUFFIX = ".0000001.jpg"
DESCRIPTION_ELLIPSIS = "…\u00a0"  # truncated descriptions end with an ellipsis and a no-break space


@dataclass(frozen=True)
class CategoryWords:
    """Word pools for one category: title topics, tags, description sentences, poster taglines."""

    topics: tuple[str, ...]
    tags: tuple[str, ...]
    sentences: tuple[str, ...]
    taglines: tuple[str, ...]


def _words(text: str) -> tuple[str, ...]:
    """Split a comma-separated literal into a tuple of stripped entries."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sentences(text: str) -> tuple[str, ...]:
    """Split a '|'-separated literal into a tuple of sentences."""
    return tuple(part.strip() for part in text.split("|") if part.strip())


CATEGORY_WORDS: dict[str, CategoryWords] = {
    "art": CategoryWords(
        _words(
            "Watercolor Paintings, Abstract Art, Acrylic Pour Painting, Pencil Sketches, Canvas Wall Art, "
            "Oil Painting Techniques, Charcoal Portraits, Art Journal Pages, Landscape Paintings, Doodle Art"
        ),
        _words(
            "Abstract Art, Canvas Art, Watercolor Art, Acrylic Painting, Art Inspiration, Drawing Ideas, "
            "Sketchbook Ideas, Painting Tutorial, Modern Art, Wall Art, Art Sketches, Pencil Drawings, "
            "Easy Paintings, Art Projects, Contemporary Art, Portrait Drawing"
        ),
        _sentences(
            "Learn how to paint loose and colourful florals with this simple step-by-step tutorial. | "
            "These abstract pieces are perfect for adding colour to a bare wall. | "
            "A beginner friendly guide to blending, layering and choosing the right brushes. | "
            "Original artwork available as prints, canvases and greeting cards."
        ),
        _words("Art Tutorials, Painting Ideas, Original Artwork, Art Prints"),
    ),
    "beauty": CategoryWords(
        _words(
            "Nail Art Designs, Summer Hairstyles, Makeup Looks, Skincare Routine, Braided Hairstyles, "
            "Eyeshadow Tutorials, Balayage Hair Colour, Acrylic Nails, Natural Makeup, Short Haircuts"
        ),
        _words(
            "Nail Designs, Hair Styles, Makeup Tips, Skin Care, Beauty Hacks, Eye Makeup, Cute Nails, "
            "Hair Color, Long Hair Styles, Braids, Nail Art, Makeup Looks, Pretty Nails, Glowing Skin, "
            "Short Hair Styles, Beauty Tips"
        ),
        _sentences(
            "The prettiest nail ideas to try this season, from soft neutrals to bold glitter tips. | "
            "A simple morning skincare routine for glowing skin in under ten minutes. | "
            "These easy hairstyles take five minutes and look great on long or short hair. | "
            "Find the perfect makeup look for date night, weddings and every day."
        ),
        _words("Latest Hairstyles, Nail Design Ideas, Beauty Tips, Makeup and Skincare"),
    ),
    "christmas": CategoryWords(
        _words(
            "Christmas Decorations, Christmas Porch Decor, Christmas Tree Ideas, Christmas Crafts, "
            "Christmas Cookies, Holiday Table Settings, Christmas Ornaments, Christmas Gifts, "
            "Christmas Wreaths, Christmas Mantel Decor"
        ),
        _words(
            "Christmas Decor, Christmas Tree, Christmas Crafts, Christmas Ornaments, Christmas Gifts, "
            "Holiday Decor, Xmas Tree, Christmas Home, Christmas Diy, Christmas Party, Farmhouse Christmas, "
            "Christmas Wreaths, Christmas Holidays, Christmas Baking, Christmas Inspiration, Merry Christmas"
        ),
        _sentences(
            "Beautiful holiday decor ideas for front porches both small and large. | "
            "My favourite neutral Christmas home decor for the holiday season in earth tones. | "
            "Easy Christmas crafts the whole family can make together this December. | "
            "Outdoor decorations like sleds, lanterns, Christmas trees and wreaths."
        ),
        _words("Holiday Decor & DIY, Christmas Ideas, Festive Home, Holiday Crafts"),
    ),
    "diy-and-crafts": CategoryWords(
        _words(
            "Summer Crafts for Kids, Paper Crafts, Mason Jar Crafts, Dollar Store Crafts, "
            "Scrap Wood Projects, "
            "Kids Activities, Sewing Projects, Upcycled Furniture, Yarn Crafts, Craft Room Organization"
        ),
        _words(
            "Diy Crafts, Crafts For Kids, Easy Crafts, Diy Projects, Paper Crafts, Kids Activities, "
            "Fun Crafts, Toddler Crafts, Craft Ideas, Upcycle, Diy Home Decor, Preschool Activities, "
            "Sewing Projects, Mason Jar Crafts, Crafts To Make, Diy Gifts"
        ),
        _sentences(
            "Keep the kids busy with these easy diy crafts and projects. | "
            "All you need is a glue gun, some paint and an afternoon. | "
            "Turn thrift store finds into something beautiful with this simple upcycle. | "
            "Free printable templates are included at the end of the post."
        ),
        _words("Crafts & DIY, Fun Activities for Kids, Free Printables, Creative Projects"),
    ),
    "education": CategoryWords(
        _words(
            "Classroom Activities, Reading Comprehension, Math Centers, Science Experiments, "
            "Teaching Strategies, Phonics Games, Writing Prompts, Homeschool Curriculum, "
            "Classroom Organization, Study Tips"
        ),
        _words(
            "Teaching Reading, Classroom Ideas, Math Activities, Homeschool, Teacher Resources, "
            "Ela Classroom, "
            "Middle School, Elementary Science, Phonics, Study Tips, Teaching Tips, Kindergarten, "
            "Writing Activities, Literacy Centers, Learning Activities, Back To School"
        ),
        _sentences(
            "These engaging activities help students build confidence in reading and writing. | "
            "A free printable pack for teachers with lesson plans and answer keys. | "
            "Hands-on math centers that work for small groups and independent practice. | "
            "Simple study strategies that help students remember more."
        ),
        _words("Teaching Resources, Classroom Ideas, Homeschool Help, Literacy Activities"),
    ),
    "event-planning": CategoryWords(
        _words(
            "Wedding Decorations, Birthday Party Ideas, Baby Shower Themes, Bridal Shower Ideas, "
            "Party Table Settings, Wedding Centerpieces, Graduation Party Ideas, Party Favors, "
            "Backyard Party Decor, Event Planning Checklists"
        ),
        _words(
            "Party Ideas, Wedding Decor, Birthday Party, Baby Shower, Party Decorations, Bridal Shower, "
            "Wedding Ideas, Party Themes, Event Planning, Centerpieces, Party Favors, Table Settings, "
            "Graduation Party, Outdoor Party, Wedding Planning, Party Food"
        ),
        _sentences(
            "Everything you need to plan a stress free party on a budget. | "
            "Gorgeous table settings and centerpieces for weddings and showers. | "
            "Download the free planning checklist and timeline for your big day. | "
            "Fun themes, favors and games guests will talk about for years."
        ),
        _words("Party Planning, Wedding Inspiration, Event Styling, Celebrations"),
    ),
    "finance": CategoryWords(
        _words(
            "Money Saving Tips, Budgeting for Beginners, Side Hustles, Debt Payoff Plans, "
            "Frugal Living Tips, "
            "Passive Income Ideas, Saving Challenges, Investing Basics, Financial Planning, Meal Planning "
            "on a Budget"
        ),
        _words(
            "Money Saving Tips, Budgeting, Save Money, Side Hustle, Personal Finance, Frugal Living, "
            "Make Money Online, Debt Free, Financial Freedom, Saving Money, Money Management, Investing, "
            "Budget Planner, Passive Income, Finance Tips, Money Makeover"
        ),
        _sentences(
            "Learn how to save more, pay off debt and build a budget that works. | "
            "Simple side hustles you can start this week from home. | "
            "This saving challenge helped us put away thousands in a single year. | "
            "A beginner guide to investing, retirement accounts and emergency funds."
        ),
        _words("Saving & Making Money, Frugal Living, Personal Finance, Money Tips"),
    ),
    "home-decor": CategoryWords(
        _words(
            "Living Room Decor, Farmhouse Kitchen Ideas, Bedroom Makeovers, Coffee Table Styling, "
            "Bathroom Decor, Gallery Walls, Cozy Living Rooms, Entryway Ideas, Boho Bedroom Decor, "
            "Small Space Storage"
        ),
        _words(
            "Home Decor, Living Room Decor, Farmhouse Decor, Bedroom Decor, Cozy Living Rooms, "
            "Home Interior, "
            "Coffee Table Decor, Kitchen Decor, Boho Decor, Decor Ideas, Interior Design, Bathroom Decor, "
            "Home Diy, Wall Decor, Entryway Decor, Modern Farmhouse"
        ),
        _sentences(
            "Simple ways to make your living room feel warm, cozy and inviting. | "
            "Affordable decor finds that make a small space look bigger. | "
            "See the full before and after of our budget bedroom makeover. | "
            "Layer textures, plants and candles for a relaxed modern look."
        ),
        _words("Home Decor & DIY, Decor Ideas, Interior Inspiration, Cozy Home"),
    ),
    "mens-fashion": CategoryWords(
        _words(
            "Mens Outfits, Mens Casual Style, Mens Street Style, Mens Suits, Mens Winter Fashion, "
            "Mens Accessories, Mens Sneakers, Mens Hairstyles, Smart Casual Outfits, Mens Watches"
        ),
        _words(
            "Mens Fashion, Mens Outfits, Mens Style, Casual Outfits, Street Style, Mens Casual, Mens Suits, "
            "Stylish Men, Men Dress, Mens Fashion Casual, Mens Accessories, Mens Shoes, Fall Outfits, "
            "Gentleman Style, Mens Winter Fashion, Mens Clothing"
        ),
        _sentences(
            "Easy outfit formulas every man can wear to work or the weekend. | "
            "Classic pieces that never go out of style and fit any budget. | "
            "How to choose the right fit for suits, chinos and jeans. | "
            "Shop the look with links to every item in the post."
        ),
        _words("Mens Style Guide, Fashion Advice, Menswear, Outfit Ideas"),
    ),
    "quotes": CategoryWords(
        _words(
            "Motivational Quotes, Love Quotes, Inspirational Quotes, Life Quotes, Friendship Quotes, "
            "Funny Quotes, Positive Affirmations, Self Love Quotes, Quotes About Strength, Morning Quotes"
        ),
        _words(
            "Inspirational Quotes, Motivational Quotes, Life Quotes, Love Quotes, Quotes To Live By, "
            "Positive Quotes, Words Of Wisdom, Wise Words, Self Love, Happy Quotes, Strong Quotes, "
            "Mindset Quotes, Quotes About Strength, Good Vibes, Affirmations, Deep Thoughts"
        ),
        _sentences(
            "The best quotes to inspire you when you need a little motivation. | "
            "Save these words for the days when everything feels heavy. | "
            "Short and sweet sayings to share with your friends and family. | "
            "Start every morning with a positive thought and a grateful heart."
        ),
        _words("Daily Quotes, Inspiration, Positive Thinking, Mindful Living"),
    ),
    "tattoos": CategoryWords(
        _words(
            "Small Tattoos, Minimalist Tattoos, Sleeve Tattoos, Flower Tattoos, Fine Line Tattoos, "
            "Matching Tattoos, Wrist Tattoos, Back Tattoos, Script Tattoos, Geometric Tattoos"
        ),
        _words(
            "Small Tattoos, Tattoo Designs, Tattoo Ideas, Minimalist Tattoo, Flower Tattoos, Sleeve Tattoos, "
            "Tiny Tattoos, Fine Line Tattoo, Arm Tattoo, Tattoo Quotes, Wrist Tattoos, Back Tattoo, "
            "Matching Tattoos, Tattoos For Women, Body Art Tattoos, Tattoo Inspiration"
        ),
        _sentences(
            "Delicate tattoo ideas with meaning for your first or next piece. | "
            "These designs look stunning on the wrist, ankle or behind the ear. | "
            "Talk to your artist about placement, size and aftercare before booking. | "
            "From fine line florals to bold blackwork, there is something for everyone."
        ),
        _words("Tattoo Ideas, Ink Inspiration, Tattoo Designs, Body Art"),
    ),
    "travel": CategoryWords(
        _words(
            "Things to Do in Costa Rica, Europe Travel Tips, Road Trip Ideas, Beach Vacations, "
            "Travel Packing Lists, Budget Travel, Hidden Gems in Italy, Family Vacation Spots, "
            "Weekend Getaways, National Park Hikes"
        ),
        _words(
            "Travel Destinations, Travel Tips, Vacation Spots, Places To Travel, Dream Vacations, "
            "Beautiful Places, Travel Photos, Road Trip, Europe Travel, Travel Packing, Family Travel, "
            "Travel Inspiration, Beach Vacation, Budget Travel, Travel Guide, Vacation Ideas"
        ),
        _sentences(
            "The ultimate itinerary for spending two weeks exploring on a budget. | "
            "Find out where to stay, what to eat and the best time to visit. | "
            "Pack light with this printable checklist for every kind of trip. | "
            "Waterfalls, volcanoes, wildlife and beaches you have to see to believe."
        ),
        _words("Travel Guides, Family Travel Blog, Adventure Travel, Travel Inspo"),
    ),
    "vehicles": CategoryWords(
        _words(
            "Classic Cars, Custom Trucks, Sports Cars, Motorcycle Builds, Camper Van Conversions, "
            "Off Road Jeeps, Muscle Cars, Luxury Cars, Car Maintenance Tips, Vintage Motorcycles"
        ),
        _words(
            "Classic Cars, Sports Cars, Dream Cars, Custom Trucks, Muscle Cars, Luxury Cars, Motorcycles, "
            "Jeep Life, Camper Van, Vintage Cars, Car Accessories, Off Road, Car Hacks, Supercars, "
            "Chevy Trucks, Cafe Racer"
        ),
        _sentences(
            "A full walkthrough of this restored classic, inside and out. | "
            "Simple maintenance tips that keep your car running for years. | "
            "See how we converted a cargo van into a tiny home on wheels. | "
            "The fastest and most beautiful machines ever built."
        ),
        _words("Car Culture, Garage Builds, Auto Enthusiast, Motor Life"),
    ),
}

CATEGORIES: tuple[str, ...] = tuple(CATEGORY_WORDS)

# Fairly even, as observed (~60 to ~100 per 1000 rows).
CATEGORY_WEIGHTS: tuple[float, ...] = (89, 64, 90, 75, 77, 65, 63, 61, 79, 87, 81, 75, 57)

TITLE_TEMPLATES: tuple[str, ...] = (
    "{n} {a} {t} Ideas",
    "{n}+ {a} {t} You Will Love",
    "{a} {t} for Beginners",
    "How to Get the Best {t} on a Budget",
    "The Best {t} of the Year",
    "{t} | {a} Inspiration",
    "{a} {t}",
    "{n} {a} {t} to Try This Year",
    "{t}: An Easy Step-by-Step Guide",
    "{t} We Can't Stop Looking At",
    "{n} {t} That Are Simply {a}",
)
TITLE_ADJECTIVES: tuple[str, ...] = _words(
    "Easy, Beautiful, Cozy, Simple, Modern, Creative, Stunning, Budget-Friendly, Minimalist, Rustic, "
    "Cute, Classic, Trendy, Unique, Gorgeous, Amazing, Quick, Affordable, Elegant, Fun"
)
TITLE_NUMBERS: tuple[int, ...] = (5, 7, 8, 10, 12, 15, 20, 21, 25, 30, 35, 40, 50, 75, 100)

GENERAL_SENTENCES: tuple[str, ...] = _sentences(
    "Click through for the full list and more ideas. | Save this pin for later! | "
    "I love how this turned out and I think you will too. | "
    "Features: high quality materials, easy to use, perfect as a gift. | "
    "Read the full post on the blog for all the details and tips. | "
    "Follow along for more inspiration every week. | "
    "This post may contain affiliate links, which means I may earn a small commission."
)

# Faker-style en_US country names (alphabetical; the source is skewed toward the start of the list).
COUNTRIES: tuple[str, ...] = _sentences(
    "Afghanistan|Albania|Algeria|American Samoa|Andorra|Angola|Anguilla|"
    "Antarctica (the territory South of 60 deg S)|Antigua and Barbuda|Argentina|Armenia|Aruba|Australia|"
    "Austria|Azerbaijan|Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bermuda|Bhutan|"
    "Bolivia|Bosnia and Herzegovina|Botswana|Bouvet Island (Bouvetoya)|Brazil|"
    "British Indian Ocean Territory (Chagos Archipelago)|British Virgin Islands|Brunei Darussalam|Bulgaria|"
    "Burkina Faso|Burundi|Cambodia|Cameroon|Canada|Cape Verde|Cayman Islands|Central African Republic|Chad|"
    "Chile|China|Christmas Island|Cocos (Keeling) Islands|Colombia|Comoros|Congo|Cook Islands|Costa Rica|"
    "Cote d'Ivoire|Croatia|Cuba|Cyprus|Czech Republic|Denmark|Djibouti|Dominica|Dominican Republic|"
    "Ecuador|Egypt|El Salvador|Equatorial Guinea|Eritrea|Estonia|Ethiopia|Falkland Islands (Malvinas)|"
    "Faroe Islands|Fiji|Finland|France|French Guiana|French Polynesia|French Southern Territories|Gabon|"
    "Gambia|Georgia|Germany|Ghana|Gibraltar|Greece|Greenland|Grenada|Guadeloupe|Guam|Guatemala|Guernsey|"
    "Guinea|Guinea-Bissau|Guyana|Haiti|Heard Island and McDonald Islands|Holy See (Vatican City State)|"
    "Honduras|Hong Kong|Hungary|Iceland|India|Indonesia|Iran|Iraq|Ireland|Isle of Man|Israel|Italy|Jamaica|"
    "Japan|Jersey|Jordan|Kazakhstan|Kenya|Kiribati|Korea|Kuwait|Kyrgyz Republic|"
    "Lao People's Democratic Republic|Latvia|Lebanon|Lesotho|Liberia|Libyan Arab Jamahiriya|Liechtenstein|"
    "Lithuania|Luxembourg|Macao|Macedonia|Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|"
    "Marshall Islands|Martinique|"
    "Mauritania|Mauritius|Mayotte|Mexico|Micronesia|Moldova|Monaco|Mongolia|Montenegro|Montserrat|Morocco|"
    "Mozambique|Myanmar|Namibia|Nauru|Nepal|Netherlands|Netherlands Antilles|New Caledonia|New Zealand|"
    "Nicaragua|Niger|Nigeria|Niue|Norfolk Island|Northern Mariana Islands|Norway|Oman|"
    "Pakistan|Palau|Palestinian Territory|Panama|Papua New Guinea|Paraguay|Peru|Philippines|"
    "Pitcairn Islands|Poland|Portugal|Puerto Rico|Qatar|Reunion|Romania|Russian Federation|Rwanda|"
    "Saint Barthelemy|Saint Helena|Saint Kitts and Nevis|Saint Lucia|Saint Martin|"
    "Saint Pierre and Miquelon|Saint Vincent and the Grenadines|Samoa|San Marino|Sao Tome and Principe|"
    "Saudi Arabia|Senegal|Serbia|Seychelles|Sierra Leone|Singapore|Slovakia (Slovak Republic)|Slovenia|"
    "Solomon Islands|Somalia|South Africa|South Georgia and the South Sandwich Islands|Spain|"
    "Sri Lanka|Sudan|Suriname|Svalbard & Jan Mayen Islands|Swaziland|Sweden|Switzerland|"
    "Syrian Arab Republic|Taiwan|Tajikistan|Tanzania|Thailand|Timor-Leste|Togo|Tokelau|Tonga|"
    "Trinidad and Tobago|Tunisia|Turkey|Turkmenistan|Turks and Caicos Islands|Tuvalu|Uganda|Ukraine|"
    "United Arab Emirates|United Kingdom|United States Minor Outlying Islands|"
    "United States Virgin Islands|United States of America|"
    "Uruguay|Uzbekistan|Vanuatu|Venezuela|Vietnam|Wallis and Futuna|"
    "Western Sahara|Yemen|Zambia|Zimbabwe"
)

FIRST_NAMES: tuple[str, ...] = _words(
    "Aaron, Abigail, Adam, Adrian, Adrienne, Aimee, Alan, Albert, Alec, Alejandra, Alejandro, Alex, "
    "Alexander, Alexandra, Alexandria, Alexis, Alfred, Alice, Alicia, Alison, Allison, Alvin, "
    "Alyssa, Amanda, "
    "Amber, Amy, Andre, Andrea, Andrew, Angel, Angela, Anita, Ann, Anna, Anne, Annette, Anthony, Antonio, "
    "April, Ariana, Ariel, Arthur, Ashley, Austin, Bailey, Barbara, Barry, Becky, Benjamin, Bernard, Beth, "
    "Betty, Billy, Bobby, Bonnie, Brad, Bradley, Brandi, Brandon, Brenda, Brendan, Brett, Brian, Briana, "
    "Brittany, Brooke, Bryce, Caitlin, Calvin, Cameron, Candice, Carl, Carla, Carlos, Carmen, Carol, "
    "Caroline, Carrie, Casey, Catherine, Chad, Charles, Chelsea, Christina, Christopher, Cindy, Claudia, "
    "Cody, Connor, Courtney, Craig, Crystal, Cynthia, Dakota, Dana, Daniel, Danielle, Darryl, "
    "David, Deborah, "
    "Denise, Derek, Diana, Dominic, Donna, Dylan, Edward, Elizabeth, Emily, Eric, Erik, Erin, Ethan, Evan, "
    "Gabriel, Gary, George, Grace, Gregory, Hannah, Heather, Herbert, Holly, Ian, Isaac, Jacob, "
    "James, Jason, "
    "Jeffrey, Jennifer, Jessica, Jill, John, Jon, Jordan, Joseph, Julie, Justin, Karen, Katherine, Kevin, "
    "Kimberly, Kyle, Laura, Lauren, Linda, Lisa, Logan, Lucas, Madison, Marcus, Maria, Mark, Matthew, "
    "Megan, Meghan, Melanie, Michael, Michelle, Monica, Nathan, Nicole, Olivia, Patrick, Paul, Rachel, "
    "Rebecca, Richard, Robert, Ryan, Samantha, Sarah, Scott, Sean, Stephanie, Steven, Tara, Taylor, "
    "Thomas, Tiffany, Timothy, Tyler, Valerie, Victoria, William, Zachary"
)

LAST_NAMES: tuple[str, ...] = _words(
    "Abbott, Acosta, Adams, Aguilar, Aguirre, Ali, Allen, Alvarado, Alvarez, Anderson, Andrews, Armstrong, "
    "Arnold, Atkins, Avila, Bailey, Baker, Baldwin, Banks, Barnes, Barnett, Bartlett, Bates, Beck, Bell, "
    "Benitez, Bennett, Black, Blair, Bond, Bowen, Bradshaw, Brewer, Brooks, Brown, Bryant, Buchanan, Burke, "
    "Butler, Campbell, Carter, Castillo, Cervantes, Chen, Clark, Cole, Collins, Conner, Cook, Cruz, "
    "Cunningham, Davenport, Davis, Diaz, Dixon, Dunn, Edwards, Ellis, Evans, Fisher, Fleming, Flores, Ford, "
    "Foster, Garcia, Gibson, Gomez, Gonzalez, Graham, Gray, Green, Griffin, Hall, Hamilton, Harris, Hart, "
    "Hayes, Henderson, Hernandez, Hill, Holmes, Howard, Hughes, Hunt, Jackson, James, Jenkins, Johnson, "
    "Jones, Kelley, Kelly, Kim, King, Knight, Lane, Larson, Lee, Lewis, Lopez, Marshall, Martin, Martinez, "
    "Mcbride, Mccullough, Mendoza, Meyer, Miller, Mitchell, Moore, Morales, Morgan, Murphy, Nelson, "
    "Nguyen, Owens, Parker, Patel, Perez, Perry, Phillips, Powell, Price, Ramirez, Reed, Reyes, Richardson, "
    "Rivera, Roberts, Robinson, Rodriguez, Rogers, Ross, Russell, Salas, Sanchez, Sanders, Sawyer, Scott, "
    "Simmons, Smith, Stewart, Sullivan, Taylor, Thomas, Thompson, Torres, Turner, Walker, Ward, Watson, "
    "White, Williams, Wilson, Wood, Wright, Young"
)

# Pieces for poster (Pinterest account) names, e.g. "Everyday Wholesome", "Salvaged Living".
BRAND_FIRST: tuple[str, ...] = _words(
    "Everyday, Salvaged, Petite, Wanderlust, Simply, Crafty, Modern, Little, Happy, Cozy, Mindful, Rustic, "
    "Golden, Wild, Urban, Sunny, Lovely, Bright, Humble, Kind, Bold, Sweet, Free, True, Pretty, Clever, "
    "Savvy, Frugal, Curious, Merry"
)
BRAND_SECOND: tuple[str, ...] = _words(
    "Living, Home, Style, Mama, Nest, Studio, Journal, Collective, Life, Kitchen, Corner, Cottage, Path, "
    "Atelier, Diaries, Society, House, Makers, Co, Club, Edit, Hive, Wanderer, Notes, Place, Market, "
    "Creations, Spaces, Days, Stories"
)

/* Tables of `serc synth`: category prototypes, sentence banks (written for SERC), espeak-ng voices.
 *
 * Sentences are plain ASCII: letters, spaces and . , ! ? only (no digits, apostrophes or hyphens, so
 * that every word gets exactly one word event from espeak-ng and SSML needs no escaping). */
#include <string.h>

#include "synth_internal.h"

/* {arousal, valence, dominance} on the 1-7 scale (4 = neutral midpoint), in SERNC class order:
 * neutral happy sad angry surprise fear disgust contempt. Loosely after the pleasure-arousal-dominance
 * ratings of emotion terms by Russell and Mehrabian (J. Res. Personality 11, 1977), mapped by
 * 4 + 3 * rating and rounded; the choice is this corpus's. Neutral sits slightly below the midpoint in
 * arousal, as read speech does. */
const double SYNTH_PROTO[SYNTH_N_LABELS][3] = {
    {3.6, 4.2, 4.0}, /* neutral  */
    {5.3, 6.0, 5.0}, /* happy    */
    {2.6, 2.3, 3.0}, /* sad      */
    {5.9, 2.3, 5.6}, /* angry    */
    {5.8, 5.0, 3.8}, /* surprise */
    {5.6, 2.2, 2.6}, /* fear     */
    {4.6, 2.4, 4.4}, /* disgust  */
    {4.0, 2.8, 5.0}, /* contempt */
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- bank A ("synth"): everyday read sentences ---- */
static const char *const A_NEUTRAL[] = {
    "The meeting has been moved to the small room on the second floor.",
    "Please put the blue folder on the shelf next to the window.",
    "The train to the coast leaves from the far platform.",
    "She bought bread, milk and a bag of apples on the way home.",
    "The library closes early on the first day of every month.",
    "We need to check the tyres before the long drive tomorrow.",
    "The report is due at the end of the week.",
    "He parked the car behind the old grey building.",
    "The kettle is in the cupboard above the sink.",
    "Most of the shops in the town centre open at nine.",
    "I will send you the address of the new office later.",
    "The garden needs water when the weather is dry.",
    "They painted the kitchen a pale shade of green.",
    "The bus stops at the corner of the main road.",
    "Your order will arrive some time on Thursday afternoon.",
    "The museum has a room full of old maps and clocks.",
    "We moved the table closer to the wall.",
    "The forecast says there will be light rain this evening.",
    "There is a post office at the end of this street.",
    "He reads the paper every morning before work.",
    "The printer on the third floor is out of paper.",
    "The river runs along the edge of the park.",
    "Turn left at the lights and then take the second right.",
    "The cat usually sleeps on the chair by the door.",
    "Our flight lands a little after six in the evening.",
    "The lecture covers the history of the local railway.",
    "She keeps her keys in the small drawer by the stairs.",
    "The form asks for your name and your date of birth.",
    "The bakery on the square sells fresh rolls each morning.",
    "We usually have dinner at about seven.",
    "The store room is at the back of the building.",
    "He left his umbrella at the station yesterday.",
    "The results will be posted on the notice board.",
    "The new bridge opens to traffic next spring.",
    "I think the meeting starts at half past ten.",
    "The phone is charging on the desk in the hall.",
    "They are planning to walk along the canal on Sunday.",
    "The lamp in the hallway needs a new bulb.",
    "The children take the bus to school each day.",
    "The boxes are stacked in the corner of the garage.",
};
static const char *const A_HAPPY[] = {
    "I am so happy that you could come to the party!",
    "What a wonderful surprise, thank you so much!",
    "We won the match and everyone is celebrating tonight.",
    "This is the best news I have heard all year!",
    "I love this place, it makes me feel so good.",
    "She passed the exam and we are all delighted.",
    "It was a lovely day and we laughed the whole time.",
    "I cannot wait to see you again, it will be great!",
    "The baby smiled at me and I felt wonderful.",
    "Everything worked out perfectly, I am thrilled.",
};
static const char *const A_SAD[] = {
    "I miss him so much since he went away.",
    "Nobody came to the funeral except the two of us.",
    "I feel so lonely in this empty house.",
    "We lost the old dog last winter and nothing is the same.",
    "I tried my best, but it was never enough.",
    "She cried all night after she heard the news.",
    "There is nothing left for me in this town anymore.",
    "I wish things could go back to the way they were.",
    "It hurts to think about the friends we lost.",
    "He never called again, and I stopped hoping.",
};
static const char *const A_ANGRY[] = {
    "How dare you speak to me like that!",
    "I told you a hundred times to stop doing that!",
    "This is completely unacceptable and I am furious.",
    "Get out of my office right now!",
    "You lied to me again, and I am sick of it!",
    "Stop wasting my time with your stupid excuses!",
    "I am absolutely livid about what they did.",
    "Who gave you the right to touch my things?",
    "Do not ever walk away from me when I am talking!",
    "That is the last straw, I have had enough of you!",
};
static const char *const A_SURPRISE[] = {
    "Wow, I never expected to see you here!",
    "Really? You mean they actually said yes?",
    "I cannot believe it, the whole house is finished already!",
    "Oh my goodness, is that really you?",
    "What? The concert is tonight and not next week?",
    "No way, you bought a boat?",
    "I had no idea you could play the piano!",
    "Goodness, look how tall the children have grown!",
    "You finished the entire marathon? That is amazing!",
    "Wait, the shop is giving them away for free?",
};
static const char *const A_FEAR[] = {
    "Please, I think someone is following us.",
    "Did you hear that noise downstairs? I am scared.",
    "I am terrified that something has happened to her.",
    "Help, the water is rising and I cannot get out!",
    "Something is moving in the dark behind the door.",
    "I am afraid they will find us before morning.",
    "Please do not leave me alone here tonight.",
    "My hands are shaking, I think we are in danger.",
    "What if the bridge collapses while we are on it?",
    "Run, there is a fire on the floor below!",
};
static const char *const A_DISGUST[] = {
    "Ugh, this milk smells absolutely rotten.",
    "There is mould growing all over the bread.",
    "That is the most revolting thing I have ever tasted.",
    "The bathroom was filthy and it made me feel sick.",
    "Yuck, there is a hair in my soup.",
    "The whole kitchen stinks of rotting fish.",
    "I cannot stand the sight of that greasy mess.",
    "Gross, something slimy just touched my foot.",
    "The rubbish has been rotting in the heat for days.",
    "It was disgusting, the floor was covered in slime.",
};
static const char *const A_CONTEMPT[] = {
    "Oh please, as if you could ever do better.",
    "I expected nothing from him, and he still disappointed me.",
    "Your so called plan is a joke.",
    "People like that are simply beneath my notice.",
    "Honestly, I have seen children do a better job.",
    "Spare me your lecture, you know nothing about it.",
    "That is cute, but it is not real work.",
    "He thinks he is clever, which is rather sad.",
    "I suppose that is the best someone like you can manage.",
    "Whatever you say, I will not waste my time on it.",
};

/* ---- bank B ("synth-b"): another register, other words, shorter sentences ---- */
static const char *const B_NEUTRAL[] = {
    "The shipment is scheduled for the middle of next month.",
    "Attach the cable to the port on the left side.",
    "The survey covers three districts in the north.",
    "Each chapter ends with a short list of questions.",
    "The committee will review the budget in March.",
    "Store the samples in the fridge at four degrees.",
    "The ferry crosses the bay twice a day.",
    "Fill in the second page before you sign.",
    "The warehouse stands beside the old harbour.",
    "Her office is on the corner of the square.",
    "The timetable changes at the start of summer.",
    "The workshop begins after a short coffee break.",
    "Copies of the plan are in the grey cabinet.",
    "The path follows the valley for several miles.",
    "Tickets can be collected at the main desk.",
    "The roof was repaired during the autumn.",
    "The software update installs overnight.",
    "He measured the room before ordering the carpet.",
    "The village has a church, a pub and a school.",
    "The fields beyond the hill belong to the farm.",
    "Bring a pen and some paper to the session.",
    "The tram runs every ten minutes until midnight.",
    "The minutes of the meeting were sent by email.",
    "The gallery is closed on Mondays.",
    "Water the plants on the balcony twice a week.",
    "The recipe needs flour, butter and two eggs.",
    "The hotel is a short walk from the station.",
    "The court will resume after lunch.",
    "The archive keeps letters from the last century.",
    "Our neighbours are away for the holidays.",
};
static const char *const B_HAPPY[] = {
    "Brilliant, we got the house!",
    "I am overjoyed, the whole family is coming home.",
    "That was such fun, let us do it again!",
    "My heart is full, this is a perfect evening.",
    "Hooray, the holidays start today!",
    "What a glorious morning to be alive.",
    "You made my day, I am grinning like a fool.",
    "We are getting married, I am so excited!",
};
static const char *const B_SAD[] = {
    "The garden feels empty without her.",
    "I am tired, and I do not see the point anymore.",
    "All our old letters are gone.",
    "He is not coming back, is he?",
    "I spent my birthday alone again.",
    "The house is so quiet since the children left.",
    "I keep losing the people I love.",
    "It is over, and there is nothing I can do.",
};
static const char *const B_ANGRY[] = {
    "You broke it, and you did not even say sorry!",
    "I am fed up with your constant complaints!",
    "Shut the door and leave me alone!",
    "They cheated us out of every penny!",
    "Never touch my car again, do you hear me?",
    "I have had it with this useless company!",
    "Answer the question and stop shouting at me!",
    "You ruined everything, you idiot!",
};
static const char *const B_SURPRISE[] = {
    "Whoa, where did all these people come from?",
    "Seriously? The exam was cancelled?",
    "Oh, I did not expect you until tomorrow!",
    "Look at that, it snowed overnight!",
    "You painted this yourself? Incredible!",
    "Hang on, the train is early for once?",
    "Goodness me, that was quick!",
    "He proposed? On a mountain top?",
};
static const char *const B_FEAR[] = {
    "Lock the door, I think they are outside.",
    "I am frightened of what the doctor will say.",
    "The lights went out and I heard footsteps.",
    "Hold my hand, I am too scared to look.",
    "The brakes are not working, what do we do?",
    "Quick, hide, somebody is coming up the stairs!",
    "I had a horrible feeling that we were being watched.",
    "Please answer the phone, I am so worried.",
};
static const char *const B_DISGUST[] = {
    "The fridge is full of rotten vegetables.",
    "Eww, the dog rolled in something foul.",
    "I nearly threw up when I smelled it.",
    "The sink is clogged with greasy leftovers.",
    "That sandwich is crawling with maggots.",
    "The toilet on the train was vile.",
    "His habit of chewing loudly makes me sick.",
    "Gross, the carpet is sticky and stained.",
};
static const char *const B_CONTEMPT[] = {
    "How quaint, you still believe in that.",
    "Some people never learn, do they?",
    "I would not expect you to understand.",
    "That is hardly what I would call an effort.",
    "Typical, another amateur with big ideas.",
    "Do not flatter yourself, nobody noticed you.",
    "Call that a report? My nephew writes better.",
    "How very predictable of you.",
};

const char *const *synth_sentences(char corpus, int k, int *n) {
    if (corpus == 'b') {
        switch (k) {
        case 1: *n = N(B_HAPPY); return B_HAPPY;
        case 2: *n = N(B_SAD); return B_SAD;
        case 3: *n = N(B_ANGRY); return B_ANGRY;
        case 4: *n = N(B_SURPRISE); return B_SURPRISE;
        case 5: *n = N(B_FEAR); return B_FEAR;
        case 6: *n = N(B_DISGUST); return B_DISGUST;
        case 7: *n = N(B_CONTEMPT); return B_CONTEMPT;
        default: *n = N(B_NEUTRAL); return B_NEUTRAL;
        }
    }
    switch (k) {
    case 1: *n = N(A_HAPPY); return A_HAPPY;
    case 2: *n = N(A_SAD); return A_SAD;
    case 3: *n = N(A_ANGRY); return A_ANGRY;
    case 4: *n = N(A_SURPRISE); return A_SURPRISE;
    case 5: *n = N(A_FEAR); return A_FEAR;
    case 6: *n = N(A_DISGUST); return A_DISGUST;
    case 7: *n = N(A_CONTEMPT); return A_CONTEMPT;
    default: *n = N(A_NEUTRAL); return A_NEUTRAL;
    }
}

/* ---- voices: espeak-ng 1.51 (Debian espeak-ng-data), lang/gmw/ and voices/!v/ ----
 * The variant counts are prime to the accent count (5 and 7 against 4), so speaker j of a gender gets
 * variant j mod 5 (or 7) and accent j mod 4: all 20 (28) combinations before any repeats (Chinese
 * remainder theorem). Left out of synth-b: variants that clip at normal volume (antonio), whisper,
 * robotic and klatt variants. */
static const char *const A_ACCENTS[] = {"en", "en-us", "en-gb-x-rp", "en-gb-scotland"};
static const char *const A_FEMALE[] = {"f1", "f2", "f3", "f4", "f5"};
static const char *const A_MALE[] = {"m1", "m2", "m3", "m4", "m5", "m6", "m7"};
static const char *const B_ACCENTS[] = {"en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc"};
static const char *const B_FEMALE[] = {"Alicia", "Andrea", "belinda", "steph", "grandma"};
static const char *const B_MALE[] = {"Andy", "Denis", "sandro", "travis", "victor", "michel", "miguel"};

const char *const *synth_accents(char corpus, int *n) {
    *n = 4;
    return corpus == 'b' ? B_ACCENTS : A_ACCENTS;
}

const char *const *synth_variants(char corpus, int female, int *n) {
    if (female) {
        *n = N(A_FEMALE);
        return corpus == 'b' ? B_FEMALE : A_FEMALE;
    }
    *n = N(A_MALE);
    return corpus == 'b' ? B_MALE : A_MALE;
}

const char *synth_lang_tag(const char *accent) {
    if (strcmp(accent, "en-us") == 0 || strcmp(accent, "en-us-nyc") == 0) return "en-US";
    if (strcmp(accent, "en-029") == 0) return "en-029";
    return "en-GB";
}

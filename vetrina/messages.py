"""Every sentence Vetrina itself (not the assistant) sends a customer, in each language.

The assistant's own replies live in ``bot/domain/``; these are the texts sent without
Rasa: notices of the web and messaging channels, the consultant handoff, the one-time
link code and the booking reminder. The languages are :data:`vetrina.language.SUPPORTED`
(one list for the whole project); every message has a text in each of them, checked on
import so a missing translation fails at start-up, not in front of a customer.
"""

from __future__ import annotations

from vetrina.language import DEFAULT_LANGUAGE, SUPPORTED

MESSAGES: dict[str, dict[str, str]] = {
    "delayed": {
        "it": "Abbiamo ricevuto il tuo messaggio: ti rispondiamo a breve.",
        "en": "We have your message and will answer shortly.",
    },
    "empty_message": {
        "it": "Il messaggio è vuoto.",
        "en": "The message is empty.",
    },
    "message_too_long": {
        "it": "Il messaggio è troppo lungo: il massimo è {limit} caratteri.",
        "en": "The message is too long: the limit is {limit} characters.",
    },
    "invalid_message": {
        "it": "Non riusciamo a leggere questo messaggio.",
        "en": "We could not read this message.",
    },
    "invalid_payload": {
        "it": "Richiesta non valida.",
        "en": "Invalid request.",
    },
    "no_session": {
        "it": "Sessione non trovata: ricarica la pagina.",
        "en": "No chat session: please reload the page.",
    },
    # Web chat: more messages than VETRINA_WEB_MAX_MESSAGES in VETRINA_WEB_RATE_SECONDS;
    # the extra ones are refused, not queued.
    "too_many_messages": {
        "it": "Stai scrivendo molto in fretta: aspetta qualche secondo e riprova. "
        "Gli ultimi messaggi non sono stati inviati.",
        "en": "You are writing very fast: please wait a few seconds and try again. "
        "Your last messages were not sent.",
    },
    # Web chat: the session belongs to a shop account and this page is not signed in
    # (any more): a new, empty chat starts.
    "signed_out": {
        "it": "Questa chat è legata al tuo account: accedi al sito per ritrovarla. "
        "Intanto puoi scriverci qui.",
        "en": "This chat belongs to your account: sign in on the site to see it again. "
        "Meanwhile you can write to us here.",
    },
    "temporarily_unavailable": {
        "it": "Non riusciamo a salvare il messaggio ora: riprova tra poco.",
        "en": "We cannot save your message right now: please try again shortly.",
    },
    "story_mention": {
        "it": "Grazie per averci menzionato nella tua storia! Se cerchi un capo o vuoi "
        "sapere se è disponibile in un negozio vicino a te, scrivimi pure.",
        "en": "Thanks for mentioning us in your story! If you are looking for something, "
        "or want to know whether it is in a store near you, just write.",
    },
    "choose_by_number": {
        "it": "Rispondi con il numero dell'opzione.",
        "en": "Reply with the number of your choice.",
    },
    "choose_option": {
        "it": "Scegli un'opzione:",
        "en": "Choose an option:",
    },
    # Handoff (issue 7): sent by the gateway when a consultant takes or passes on a chat.
    "consultant_joined": {
        "it": "Ora ti risponde {name}, consulente di Vetrina: scrivi pure qui.",
        "en": "{name}, a Vetrina consultant, is with you now: just write here.",
    },
    "consultant_transfer": {
        "it": "Ti passo a un altro consulente: ti risponderà a breve. Nel frattempo "
        "l'assistente automatico resta a disposizione.",
        "en": "I'm passing you to another consultant, who will answer shortly. Meanwhile "
        "the automated assistant is here for you.",
    },
    # Web widget header (issue 13): whether a person could answer now.
    "header_on_duty": {
        "it": "Assistente virtuale · consulenti disponibili",
        "en": "Virtual assistant · consultants available",
    },
    "header_back_today": {
        "it": "Assistente virtuale · i consulenti tornano alle {time}",
        "en": "Virtual assistant · consultants are back at {time}",
    },
    "header_back_later": {
        "it": "Assistente virtuale · i consulenti tornano il {date} alle {time}",
        "en": "Virtual assistant · consultants are back on {date} at {time}",
    },
    "header_off_duty": {
        "it": "Assistente virtuale · nessun consulente disponibile ora",
        "en": "Virtual assistant · no consultant available right now",
    },
    # Identity (issue 6): the site's signed identity token could not be used.
    "identity_token_expired": {
        "it": "Il tuo accesso è scaduto: ricarica la pagina per continuare come utente "
        "registrato. Puoi comunque scriverci.",
        "en": "Your sign-in has expired: reload the page to continue as a signed-in "
        "customer. You can still write to us.",
    },
    "identity_token_invalid": {
        "it": "Non riusciamo a riconoscere il tuo account: continui come ospite.",
        "en": "We could not recognise your account: you are chatting as a guest.",
    },
    "assistant_back": {
        "it": "Eccomi di nuovo: sono l'assistente automatico di Vetrina. Come posso aiutarti?",
        "en": "I'm back: I'm Vetrina's automated assistant. How can I help?",
    },
    # Identity (issue 6): the one-time code sent to the WhatsApp number being linked.
    "link_code": {
        "it": "Il tuo codice Vetrina è {code}. Scrivilo nella chat in cui l'hai chiesto per "
        "collegare questo numero. Scade tra {minutes} minuti. Se non l'hai chiesto tu, ignora "
        "questo messaggio.",
        "en": "Your Vetrina code is {code}. Type it in the chat where you asked for it to link "
        "this number. It expires in {minutes} minutes. If you did not ask for it, ignore this "
        "message.",
    },
    # Identity (issue 17): linking by a code sent *from* WhatsApp or Instagram. The text
    # the WhatsApp click-to-chat link fills in, the answer to the sender once linked, and
    # what the web chat that showed the code is told.
    "link_proof_prefill": {
        "it": "Ciao! Vorrei collegare questa chat a quella sul sito. Il mio codice è {code}",
        "en": "Hi! Please link this chat to my chat on the website. My code is {code}",
    },
    "link_proof_done": {
        "it": "Fatto! Questa chat è collegata a quella sul sito: ora vedo tutte le nostre "
        "conversazioni e ti rispondo qui.",
        "en": "Done! This chat is linked to the one on the website: I can now see all our "
        "conversations, and I'll answer you here.",
    },
    "link_proof_web": {
        "it": "Fatto: il tuo {channel} è collegato a questa chat.",
        "en": "Done: your {channel} is linked to this chat.",
    },
    # Bookings (issue 13): a try-on a consultant booked for the shopper in the console,
    # confirmed like the assistant's own "utter_try_on_booked" (bot/domain/bookings.yml;
    # tests/console/test_shopper_side.py checks both keep the same facts).
    "booking_confirmed": {
        "it": "Prenotato! Codice {code}.\n{items}\n📍 {store}, {address}\n🕒 {when}\n"
        "Te lo teniamo da parte.{calendar}\nPer spostarla o annullarla scrivimi \"sposta\" o "
        "\"annulla\" con il codice.",
        "en": "Booked! Code {code}.\n{items}\n📍 {store}, {address}\n🕒 {when}\n"
        "We'll keep it aside for you.{calendar}\nTo move or cancel it, write \"move\" or "
        "\"cancel\" with the code.",
    },
    "booking_when": {
        "it": "{date} alle {time}",
        "en": "{date} at {time}",
    },
    "booking_calendar_line": {
        "it": "\nAggiungila al calendario: {url}",
        "en": "\nAdd it to your calendar: {url}",
    },
    "booking_add_to_calendar": {
        "it": "Aggiungi al calendario",
        "en": "Add to calendar",
    },
    # Bookings (issue 8): the reminder the day before a try-on.
    "booking_reminder": {
        "it": "Promemoria: domani alle {time} ti aspettiamo da {store} ({address}) per la "
        "prova. Codice prenotazione: {code}.",
        "en": "Reminder: tomorrow at {time} we expect you at {store} ({address}) for your "
        "try-on. Booking code: {code}.",
    },
}


def message(key: str, language: str | None, **values: object) -> str:
    """The text of message ``key`` in ``language`` (the default language when unknown)."""
    texts = MESSAGES[key]
    chosen = language if language in SUPPORTED else DEFAULT_LANGUAGE
    return texts[chosen].format(**values)


def _check() -> None:
    for key, texts in MESSAGES.items():
        missing = set(SUPPORTED) - set(texts)
        if missing:
            raise RuntimeError(f"message {key!r} has no text in {sorted(missing)}")


_check()

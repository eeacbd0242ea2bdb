// Bundled UI strings. Tenant-authored texts (title, greeting, starter
// questions) come from the widget config; these are only the widget's own.

// One '|'-separated line per language, in the order of KEYS (smaller once
// gzipped than one object per language). Keep the "|" count equal.
const KEYS = (
  'title greeting open close placeholder send stop sources page helpful up down comment submit thanks ' +
  'offline reconnecting slow error newChat typing unavailable'
).split(' ');

const TABLE = {
  en: 'Chat with us|Hi there! How can we help you today?|Open chat|Close chat|Write a message…|Send message|Stop generating|Sources|p.|Was this helpful?|Helpful|Not helpful|Tell us more (optional)|Send feedback|Thanks for your feedback!|You are offline.|Reconnecting…|Too many messages. Please wait a moment.|Something went wrong. Please try again.|New conversation|The assistant is typing|Chat is not available on this page.',
  fr: 'Discutons|Bonjour ! Comment pouvons-nous vous aider ?|Ouvrir la discussion|Fermer la discussion|Écrivez un message…|Envoyer le message|Arrêter la génération|Sources|p.|Cette réponse vous a-t-elle aidé ?|Utile|Pas utile|Dites-nous en plus (facultatif)|Envoyer l’avis|Merci pour votre avis !|Vous êtes hors ligne.|Reconnexion…|Trop de messages. Patientez un instant.|Une erreur est survenue. Veuillez réessayer.|Nouvelle conversation|L’assistant écrit|Le chat n’est pas disponible sur cette page.',
  de: 'Chatten Sie mit uns|Hallo! Wie können wir Ihnen helfen?|Chat öffnen|Chat schließen|Nachricht schreiben…|Nachricht senden|Generierung stoppen|Quellen|S.|War das hilfreich?|Hilfreich|Nicht hilfreich|Erzählen Sie uns mehr (optional)|Feedback senden|Danke für Ihr Feedback!|Sie sind offline.|Verbinde neu…|Zu viele Nachrichten. Bitte warten Sie kurz.|Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.|Neue Unterhaltung|Der Assistent schreibt|Der Chat ist auf dieser Seite nicht verfügbar.',
  es: 'Chatea con nosotros|¡Hola! ¿En qué podemos ayudarte hoy?|Abrir chat|Cerrar chat|Escribe un mensaje…|Enviar mensaje|Detener la respuesta|Fuentes|pág.|¿Te ha resultado útil?|Útil|No es útil|Cuéntanos más (opcional)|Enviar comentario|¡Gracias por tu comentario!|Estás sin conexión.|Reconectando…|Demasiados mensajes. Espera un momento.|Algo salió mal. Inténtalo de nuevo.|Nueva conversación|El asistente está escribiendo|El chat no está disponible en esta página.',
};

const STRINGS = {};
for (const lang in TABLE) {
  const values = TABLE[lang].split('|');
  STRINGS[lang] = {};
  KEYS.forEach((k, i) => (STRINGS[lang][k] = values[i]));
}

export const LANGUAGES = Object.keys(STRINGS);

/**
 * Resolve the configured language. "auto" (or anything unknown) uses the
 * host page's <html lang> prefix ("fr-CA" -> "fr"), falling back to English.
 */
export function pickLanguage(pref, doc) {
  if (STRINGS[pref]) return pref;
  let lang = '';
  try {
    lang = String((doc && doc.documentElement && doc.documentElement.lang) || '');
  } catch (e) { /* defensive read of the host page */ }
  lang = lang.slice(0, 2).toLowerCase();
  return STRINGS[lang] ? lang : 'en';
}

/** The string table for `lang` (English for unknown codes). */
export function strings(lang) {
  return STRINGS[lang] || STRINGS.en;
}

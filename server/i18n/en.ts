// English strings for every recipient page. Templates hold no text of their own: a page reads
// `t.key`; a missing key in another locale falls back to this file (see index.ts).
export const en = {
  lang: 'en',
  brand: 'Email preferences',
  footerSentBy: 'These pages are run for {brand}.',
  footerPrivacy: 'Privacy policy',
  footerHelp: 'Help',
  skip: 'Skip to content',
  // GET /u/{token}
  unsubTitle: 'Unsubscribe',
  unsubLead: 'You are receiving “{topic}” at {email}.',
  unsubTopic: 'Unsubscribe from “{topic}”',
  unsubAll: 'Unsubscribe from all marketing email',
  manage: 'Manage all preferences',
  operationalNote:
    'Whatever you choose, we will still email you about your account and administrative matters:',
  operationalTopicLead:
    '“{topic}” is an account or administrative notice. These keep coming whatever you choose, but you can leave our marketing email here.',
  // confirmation
  doneTitle: 'You are unsubscribed',
  doneTopic: 'You will no longer get “{topic}” by email at {email}.',
  doneAll: 'You will no longer get any marketing email at {email}.',
  doneNothing: 'You were already unsubscribed: nothing changed.',
  undo: 'Undo',
  undoHint: 'Clicked by mistake? Undo puts everything back as it was.',
  undoneTitle: 'You are subscribed again',
  undoneText: 'Everything is back as it was before.',
  whyTitle: 'Why are you leaving? (optional)',
  whyHint: 'Your answer helps us send better email. It is not required.',
  whySend: 'Send answer',
  'why.too_many': 'Too many emails',
  'why.not_relevant': 'Not relevant to me',
  'why.never_signed_up': 'I never signed up',
  'why.other': 'Another reason',
  thanksTitle: 'Thank you',
  thanksText: 'We have noted your answer.',
  // /preferences/{token}
  prefsTitle: 'Your preferences',
  prefsLead: 'Choose what we may send to {email}.',
  save: 'Save preferences',
  saved: 'Saved. Your choices apply to the next message we send.',
  savedNothing: 'Nothing changed: your preferences were already like this.',
  'channel.email': 'Email',
  'channel.sms': 'Text messages (SMS)',
  'channel.voice': 'Phone calls',
  allOn: 'Send me the marketing I choose below',
  allOff: 'Send me no marketing {channel} at all',
  allLegend: 'Marketing {channel}',
  topicsLegend: 'Topics',
  alwaysOnTitle: 'Always sent',
  alwaysOnText: 'These are about your account and cannot be turned off while you are a customer:',
  phoneSection: 'Calls and text messages',
  phoneNotSigned: 'We only call or text customers with a signed agreement who have agreed to it.',
  phoneConsentPlaceholder: 'Consent to calls and text messages is recorded by your account team.',
  consentLead:
    'We text or call only with your permission. Tick what you agree to; you can revoke it here at any time, or reply STOP to any text.',
  consentNotCondition: 'Consent is not a condition of any purchase.',
  phoneLabel: 'Mobile phone number',
  phoneKeep: 'Leave empty to use the number ending in {last4}.',
  consentSms: 'I agree to receive text messages at this number',
  consentVoice: 'I agree to receive calls at this number',
  consentSave: 'Save my consent',
  consentGrantedSms: 'You agreed to text messages at the number ending in {last4} on {date}.',
  consentGrantedVoice: 'You agreed to calls at the number ending in {last4} on {date}.',
  consentRevokeSms: 'Stop text messages',
  consentRevokeVoice: 'Stop calls',
  'consentMsg.granted': 'Thank you: your consent is recorded.',
  'consentMsg.revoked': 'Done: we will not text or call you on that channel any more.',
  'consentMsg.none': 'Nothing was recorded: tick at least one box to agree.',
  'consentMsg.phone_invalid':
    'That phone number does not look right. Enter it with the area code, e.g. (415) 555-2671.',
  'consentMsg.too_many': 'Too many codes were sent to this number or for you today. Try again later.',
  'consentMsg.opted_out':
    'This number has stopped our texts at the carrier. Reply START to our number first, then try again.',
  'consentMsg.expired': 'That code has expired or was already used. Ask for a new one below.',
  confirmTitle: 'Confirm your number',
  confirmLead: 'We texted a 6-digit code to the number ending in {last4}. Enter it to record your consent.',
  codeLabel: 'Code from the text message',
  codeSubmit: 'Confirm and record my consent',
  codeWrong: 'That code is not right. Check the text message and try again.',
  codeNew: 'No text? Go back and ask for a new code',
  'consentMsg.not_signed': 'Calls and texts need a signed agreement with us; nothing was recorded.',
  unsubscribedAllShort: 'off: no marketing on this channel',
  // GET /preferences
  homeTitle: 'Email preferences for {brand}',
  homeLead:
    '{brand} uses this page to let you choose which of its emails you get. Enter your email address and we will send you a link to your preferences: there you can leave a topic or everything, take a break, and see what {brand} holds about you.',
  requestSpamHint:
    'Nothing after ten minutes? Look in your spam or junk folder, or try the address you use with {brand}.',
  requestAnother: 'Use another address',
  requestTitle: 'Manage your email preferences',
  requestLead: 'Enter your email address and we will send you a link to your preferences.',
  emailLabel: 'Email address',
  requestSend: 'Email me a link',
  requestSentTitle: 'Check your inbox',
  requestSentText:
    'If we send email to {email}, a link to your preferences is on its way. It may take a few minutes.',
  requestBadEmail: 'Enter an email address such as name@example.com.',
  // the link email
  linkSubject: 'Your email preferences at {brand}',
  linkText:
    'Here is the link to manage the email you get from {brand}:\n\n{url}\n\nIf you did not ask for it, you can ignore this message.\n\n{footer}',
  linkHtml:
    '<p>Here is the link to manage the email you get from {brand}:</p><p><a href="{url}">Manage my preferences</a></p><p>If you did not ask for it, you can ignore this message.</p><p style="color:#57606a;font-size:13px">{footer}</p>',
  // errors
  notFoundTitle: 'Link not valid',
  notFoundText: 'This link is not valid. Use the newest link from one of our emails, or ask for a new one.',
  askNewLink: 'Email me a new link',
  expiredFormTitle: 'Please try again',
  expiredFormText:
    'This form is too old or was not sent from our page. Reload the page and try again; nothing was changed.',
  rateLimitedTitle: 'Too many requests',
  rateLimitedText: 'Please wait a minute before trying again.',
  badFormTitle: 'Something is missing',
};

export type Strings = typeof en;

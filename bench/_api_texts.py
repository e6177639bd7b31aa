"""What the P7 benchmark's rows say: agent instructions, run inputs, answers, errors and a
tool result, realistic in length (the size of a runs row is what list queries read)."""

INSTRUCTIONS = (
    "You are a careful assistant for an operations team. Answer in short paragraphs, cite "
    "the knowledge passages you used, and say plainly when the documents do not cover the "
    "question. Never invent order numbers, prices or dates. When a tool fails, explain what "
    "you tried and what the user can do next. Keep answers under 300 words unless asked."
)
INPUTS = (
    "Summarise the open support tickets about late deliveries from the last week and group them by carrier.",
    "Draft a reply to a customer who was charged twice for order 48213; apologise and explain the refund.",
    "Which of our enterprise leads mentioned SOC 2 in their last email? List company, contact and stage.",
    "Check invoice INV-2291 against the purchase order and flag any line whose amount differs.",
    "Write release notes for version 3.8 from the merged pull requests titled in the attached list.",
    "What does our refund policy say about digital goods bought with a discount code?",
    "Classify this ticket: 'The export button does nothing on Safari, tried twice, urgent for payroll.'",
    "Find three competitors that launched usage-based pricing this quarter and summarise their tiers.",
    "Compare the March and April cloud bills and explain the largest three increases.",
    "Translate the onboarding checklist into German, keeping the product names in English.",
    "Extract the renewal date, notice period and price cap from the contract text below.",
    "Prepare five interview questions for a senior data engineer focused on streaming pipelines.",
)
OUTPUTS = (
    "Here is the summary you asked for. Most late deliveries this week came from two carriers: "
    "NorthShip (14 tickets, mostly rural addresses, average delay 2.3 days) and Parcelo (9 tickets, "
    "all from the Leeds depot after its scanner outage on Tuesday). Three tickets mention damaged "
    "boxes as well as delays. I suggest a proactive email to the 23 affected customers with a "
    "revised date, and a check with Parcelo on whether the Leeds backlog has cleared. Sources: "
    "[1] Carrier SLA handbook, section 4; [2] Support macros, 'Late delivery'.",
    "Dear Ms. Álvarez, thank you for telling us, and I am sorry for the double charge on order "
    "48213. Our records confirm two identical payments on 12 May; the second one has been refunded "
    "today and should reach your card within 3 to 5 business days, depending on your bank. You do "
    "not need to do anything else. If it has not arrived by next Friday, reply to this email and "
    "I will follow it up personally. Kind regards, the Support team.",
    "Four leads mentioned SOC 2 in their most recent email: Helix Analytics (Maya Chen, "
    "evaluation), Brightwater Logistics (Tom Okafor, proposal), Quanta Health (Priya Raman, "
    "security review) and Orbital Foods (Lena Weiss, discovery). Quanta Health also asked for our "
    "penetration test summary. Our SOC 2 Type II report is available under NDA; the sales playbook "
    "says to send the bridge letter together with it.",
    "Invoice INV-2291 matches purchase order PO-7710 on 11 of 12 lines. Line 7 (annual support, "
    "2 seats) is billed at 1,450.00 EUR while the order says 1,200.00 EUR, a difference of "
    "250.00 EUR. The tax rate and the payment terms (30 days net) agree. I recommend holding "
    "payment of line 7 and asking the supplier for a corrected invoice or the amended order.",
    "Release 3.8 brings scheduled exports, a faster search index and 23 fixes. Highlights: exports "
    "can now run on a cron schedule and land in S3 or Google Drive; search results appear about "
    "40 % faster on large workspaces; the audit log can be filtered by actor. Fixed: Safari export "
    "button, duplicated webhook deliveries after a retry, and time zones in the weekly digest. "
    "Upgrade notes: the legacy v0 export endpoint is removed.",
    "Our refund policy covers digital goods for 14 days after purchase if the download or licence "
    "key has not been used. Purchases with a discount code are refunded at the amount actually "
    "paid, not the list price, and the code cannot be reused afterwards. Bundles are refunded "
    "whole or not at all. Source: [1] Refund policy, sections 2.3 and 2.5.",
)
ERRORS = (
    "OpenAI rejected the request: rate limit reached for gpt-4.1-mini. Try again in a minute.",
    "The run stopped after 600 seconds (RUN_TIMEOUT_SECONDS).",
    "Anthropic is overloaded right now (529). The run was not retried after the first token.",
    "The http_request tool was refused: 10.0.0.12 is a private address.",
    "The run used more than 200,000 tokens (RUN_MAX_TOTAL_TOKENS) and was stopped.",
)
TOOL_RESULT = (
    "[1] Carrier SLA handbook, section 4 — Deliveries to rural postcodes may take two extra "
    "business days; carriers must scan each parcel at the depot and on delivery. [2] Support "
    "macros — 'Late delivery': apologise, give the tracking link and a revised date."
)

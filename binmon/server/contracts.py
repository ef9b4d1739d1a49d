"""The generated contract universe: base assets, contract state, delivery dates.

Base names are general knowledge of the venue, not a copy of any dump;
synthetic names fill up the rest.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from binmon.server.ladders import Rung, build_brackets
from binmon.server.wire import BracketWire, ContractInfoUpdate

# The ``st`` field: the USDⓈ-M and COIN-M universes.
UM: Final = 1
CM: Final = 2


def _words(text: str) -> list[str]:
    return text.split()


# Base assets of USD-M perpetuals, oldest listings first (general knowledge of
# the venue, not a copy of any dump). Synthetic names fill up the rest.
BASES: Final = _words("""
BTC ETH BCH XRP EOS LTC TRX ETC LINK XLM ADA XMR DASH ZEC XTZ BNB ATOM ONT IOTA BAT VET NEO QTUM
IOST THETA ALGO ZIL KNC ZRX COMP DOGE SXP KAVA BAND RLC MKR SNX DOT DEFI YFI CRV TRB RUNE SUSHI
EGLD SOL ICX STORJ UNI AVAX ENJ FLM KSM NEAR AAVE FIL RSR LRC BEL AXS ZEN SKL GRT 1INCH CHZ SAND
ANKR RVN SFP COTI CHR MANA ALICE HBAR ONE DENT CELR HOT MTL OGN NKN 1000SHIB BAKE GTC BTCDOM IOTX
C98 MASK ATA DYDX 1000XEC GALA CELO AR ARPA CTSI LPT ENS PEOPLE ROSE DUSK FLOW IMX API3 GMT APE
WOO JASMY OP INJ STG SPELL 1000LUNC LUNA2 LDO ICP APT QNT FET FXS HOOK MAGIC T HIGH MINA ASTR
PHB GMX CFX STX ACH SSV CKB PERP TRU LQTY ID ARB JOE TLM LEVER RDNT HFT XVS BLUR EDU SUI
1000PEPE 1000FLOKI UMA NMR MAV XVG WLD PENDLE ARKM AGLD YGG BNT OXT SEI CYBER HIFI ARK BICO LOOM
BIGTIME BOND ORBS WAXP POLYX GAS POWR TIA CAKE MEME TOKEN ORDI STEEM ILV NTRN KAS BEAMX 1000BONK
PYTH SUPER USTC ONG ETHW JTO 1000SATS AUCTION 1000RATS ACE MOVR NFP AI XAI WIF MANTA ONDO LSK
ALT JUP ZETA RONIN DYM OM PIXEL STRK GLM PORTAL TON AXL MYRO METIS AEVO VANRY BOME ETHFI ENA W
TNSR SAGA TAO OMNI REZ BB NOT TURBO IO ZK MEW LISTA ZRO RENDER BANANA RARE G SYN SYS VOXEL BRETT
POPCAT SUN DOGS MBOX CHESS FLUX BSW QUICK NEIROETH RPL POL UXLINK 1MBABYDOGE NEIRO KDA FIDA FIO
CATI GHST LOKA HMSTR REI COS EIGEN DIA 1000CAT SCR GOAT MOODENG SAFE SANTOS PONKE COW CETUS
1000000MOG GRASS DRIFT SWELL ACT PNUT HIPPO 1000X DEGEN BAN AKT SLERF SCRT 1000CHEEMS 1000WHY
THE MORPHO CHILLGUY KAIA AERO ACX ORCA MOVE RAYSOL KOMA VIRTUAL SPX ME AVA DEGO VELODROME MOCA
VANA PENGU LUMIA USUAL AIXBT FARTCOIN KMNO CGPT HIVE DEXE PHA DF GRIFFAIN AI16Z ZEREBRO BIO
COOKIE ALCH SWARMS SONIC PROM S SOLV ARC AVAAI TRUMP MELANIA VTHO ANIME VINE PIPPIN VVV BERA
TST LAYER HEI B3 IP GPS SHELL KAITO RED VIC EPIC BMT MUBARAK FORM BID TUT BROCCOLI BANANAS31
SIREN PARTI NIL JELLYJELLY PAXG WAL FUN MLN GUN ATH BABY KERNEL WCT HYPER INIT SIGN STO SYRUP
OBOL DOOD SXT ASR ALPINE B MILK HUMA A SOPH NXPC AWE HAEDAL HOME RESOLV SQD F NEWT SAHARA SPK H
M CROSS TANSSI AIN BULLA ERA TAC PROVE TREE TOWNS PLUME ZORA ESPORTS ICNT DAM BTR XPL AVNT
LINEA WLFI HOLO OPEN BARD SOMI MITO ZKC ASTER STBL EDEN 0G KGEN FLOCK APEX HEMI CLO MET
""")

# The largest by open interest get deeper ladders.
LARGE: Final = frozenset(
    _words(
        "BTC ETH BNB SOL XRP DOGE ADA LINK LTC BCH AVAX DOT TRX SUI TON NEAR APT ARB OP FIL "
        "ATOM ETC UNI AAVE WLD 1000PEPE WIF ORDI INJ TIA ENA"
    )
)

CM_BASES: Final = _words(
    "BTC ETH BNB SOL XRP ADA DOGE DOT LINK LTC BCH TRX ETC FIL AVAX ATOM UNI EOS XLM AAVE NEAR APT "
    "SUI OP ARB"
)

SUBTYPES: Final = (
    (),
    (),
    (),
    ("Layer-1",),
    ("Layer-2",),
    ("DeFi",),
    ("Meme",),
    ("AI",),
    ("Gaming",),
    ("Infrastructure",),
)

CONSONANTS: Final = "BCDFGHJKLMNPRSTVWXZ"
VOWELS: Final = "AEIOUY"

LIVE: Final = frozenset({"TRADING", "PENDING_TRADING"})
GONE: Final = frozenset({"SETTLING", "DELIVERED", "CLOSE"})


@dataclass(slots=True)
class Contract:
    """Current state of one symbol, as exchangeInfo and leverageBracket report it."""

    symbol: str
    pair: str
    contract_type: str
    delivery_ms: int
    onboard_ms: int
    status: str
    base: str
    quote: str
    margin: str
    underlying: str
    market: int
    rungs: list[Rung]
    brackets: list[BracketWire] = field(default_factory=list)
    subtypes: tuple[str, ...] = ()
    # Tick at which it stopped trading (delisted/delivered during the run):
    # such symbols are dropped after a while so the universe stays bounded.
    gone_tick: int | None = None

    def __post_init__(self) -> None:
        if not self.brackets:
            self.brackets = build_brackets(self.rungs)

    def set_rungs(self, rungs: list[Rung]) -> None:
        self.rungs = rungs
        self.brackets = build_brackets(rungs)

    def frame(self, event_ms: int, *, with_brackets: bool = False) -> ContractInfoUpdate:
        # Real frames carry "bks":[] unless the brackets changed.
        return ContractInfoUpdate(
            "contractInfo",
            event_ms,
            self.symbol,
            self.pair,
            self.contract_type,
            self.delivery_ms,
            self.onboard_ms,
            self.status,
            list(self.brackets) if with_brackets else [],
            self.market,
        )


def quarter_deliveries(after_ms: int, count: int) -> list[int]:
    """The next ``count`` quarterly delivery times after ``after_ms``.

    Quarterlies deliver on the last Friday of March, June, September and
    December at 08:00 UTC.
    """
    out: list[int] = []
    year = datetime.fromtimestamp(after_ms / 1000, UTC).year
    while len(out) < count:
        for month in (3, 6, 9, 12):
            last_day = calendar.monthrange(year, month)[1]
            fridays = [
                d
                for d in range(last_day - 6, last_day + 1)
                if calendar.weekday(year, month, d) == 4
            ]
            day = fridays[-1]
            t = int(datetime(year, month, day, 8, tzinfo=UTC).timestamp() * 1000)
            if t > after_ms and len(out) < count:
                out.append(t)
        year += 1
    return out


def delivery_suffix(delivery_ms: int) -> str:
    return datetime.fromtimestamp(delivery_ms / 1000, UTC).strftime("%y%m%d")
